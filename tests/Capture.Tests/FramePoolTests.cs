using Edge.Capture;

namespace Edge.Capture.Tests;

public sealed class FramePoolTests
{
    [Fact]
    public async Task Rent_AllBuffersOut_WaitsUntilOneIsReturned()
    {
        using var pool = new FramePool(3);
        var leases = Enumerable.Range(0, 3).Select(_ => pool.Rent(CancellationToken.None)).ToList();
        Assert.Equal(3, pool.Outstanding);

        var waiting = pool.RentAsync(CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted, "a fourth lease must wait for a buffer");

        leases[0].Dispose();
        using var fourth = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(3, pool.Outstanding);
        Assert.Equal(3, pool.PeakOutstanding);
        foreach (var lease in leases.Skip(1))
        {
            lease.Dispose();
        }
    }

    [Fact]
    public void Dispose_Twice_ReturnsTheBufferOnce()
    {
        using var pool = new FramePool(2);
        var frame = pool.Rent(CancellationToken.None);
        frame.Dispose();
        frame.Dispose();
        Assert.Equal(0, pool.Outstanding);
        using var a = pool.Rent(CancellationToken.None);
        using var b = pool.Rent(CancellationToken.None);
        Assert.Equal(2, pool.Outstanding);
        Assert.Throws<ObjectDisposedException>(() => frame.Image);
    }

    [Fact]
    public async Task Rent_ManyThreads_NeverMoreThanCapacityOut()
    {
        using var pool = new FramePool(4);
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                using var frame = await pool.RentAsync(CancellationToken.None);
                Assert.InRange(pool.Outstanding, 1, 4);
                await Task.Yield();
            }
        }));
        await Task.WhenAll(workers);
        Assert.Equal(0, pool.Outstanding);
        // How many were out at once depends on the scheduler (two cores may never run eight workers together); never more than 4.
        Assert.InRange(pool.PeakOutstanding, 1, 4);

        // At capacity, the next rent waits until a frame comes back.
        var held = Enumerable.Range(0, 4).Select(_ => pool.Rent(CancellationToken.None)).ToList();
        Assert.Equal(4, pool.PeakOutstanding);
        var fifth = pool.RentAsync(CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(fifth.IsCompleted, "a fifth frame was leased from a pool of four");
        held[0].Dispose();
        using (await fifth.WaitAsync(TimeSpan.FromSeconds(5)))
        {
            Assert.Equal(4, pool.Outstanding);
        }
        held.Skip(1).ToList().ForEach(f => f.Dispose());
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Rent_Cancelled_ThrowsWithoutLeasing()
    {
        using var pool = new FramePool(1);
        using var held = pool.Rent(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        Assert.ThrowsAny<OperationCanceledException>(() => pool.Rent(cts.Token));
        Assert.Equal(1, pool.Outstanding);
    }
}

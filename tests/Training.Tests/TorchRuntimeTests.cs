using TorchSharp;
using static TorchSharp.torch;

namespace Edge.Training.Tests;

/// <summary>Tests that reseed torch's global generator run alone, so no other test draws between seed and draw.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalStateCollection
{
    public const string Name = "torch global state";
}

[Collection(TorchGlobalStateCollection.Name)]
public sealed class TorchRuntimeTests
{
    [Fact]
    public void Initialize_BuiltOutput_LoadsLibtorchAndSetsThreads()
    {
        TorchRuntime.Initialize(threads: 2, seed: 1);

        Assert.Equal(2, get_num_threads());
        using var one = ones(1);
        Assert.Equal(1f, one.item<float>());
    }

    [Fact]
    public void Matmul_TwoByTwo_EqualsHandComputedProduct()
    {
        TorchRuntime.Initialize(threads: 2, seed: 1);
        using var a = tensor(new float[] { 1, 2, 3, 4 }, 2, 2);
        using var b = tensor(new float[] { 5, 6, 7, 8 }, 2, 2);

        using var c = matmul(a, b);

        // [1 2; 3 4] x [5 6; 7 8] = [1*5+2*7, 1*6+2*8; 3*5+4*7, 3*6+4*8]
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());
    }

    [Fact]
    public void Initialize_SameSeed_RepeatsRandomDraws()
    {
        TorchRuntime.Initialize(threads: 2, seed: 1234);
        using var first = randn(16);
        TorchRuntime.Initialize(threads: 2, seed: 1234);
        using var second = randn(16);
        TorchRuntime.Initialize(threads: 2, seed: 4321);
        using var other = randn(16);

        Assert.Equal(first.data<float>().ToArray(), second.data<float>().ToArray());
        Assert.NotEqual(first.data<float>().ToArray(), other.data<float>().ToArray());
    }

    [Fact]
    public void Linear_FiftySgdStepsOnLine_LossFallsTenfold()
    {
        TorchRuntime.Initialize(threads: 2, seed: 7);
        using var scope = NewDisposeScope();
        var x = linspace(-1, 1, 32).unsqueeze(1);
        var y = 2 * x + 1;
        using var model = nn.Linear(1, 1);
        using var optimizer = optim.SGD(model.parameters(), learningRate: 0.1);

        var losses = new List<float>();
        for (var step = 0; step < 50; step++)
        {
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(x), y);
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        Assert.True(losses[^1] < losses[0] / 10, $"loss {losses[0]} -> {losses[^1]}");
    }
}

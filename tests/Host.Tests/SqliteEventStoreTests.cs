using Edge.Host.Sinks;
using Edge.Pipeline.Events;
using Edge.Tests;

namespace Edge.Host.Tests;

public sealed class SqliteEventStoreTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void AddAndQuery_RoundTripsEventsAcrossReopen()
    {
        var path = Path.Combine(_folder, "events.db");
        var a = new DetectedEvent("a1", "cam1", DetectedEvent.AnomalyKind, "anomaly", 1000.5, 2500, 10, 25, 4.25, 17) { Snapshot = "event-a1.jpg" };
        var b = new DetectedEvent("b2", "cam2", DetectedEvent.ActivityKind, "run", 500, 900, 5, 9, 0.93, 7);
        using (var store = new SqliteEventStore(path))
        {
            store.Add(a);
            store.Add(b);
            store.Add(a with { Label = "duplicate" });
        }
        using var reopened = new SqliteEventStore(path);
        Assert.Equal([b, a], reopened.Query());
        Assert.Equal([a], reopened.Query(stream: "cam1"));
        Assert.Equal([b], reopened.Query(kind: DetectedEvent.ActivityKind));
        Assert.Empty(reopened.Query(stream: "cam3"));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}

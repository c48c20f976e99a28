using System.Text.Json;
using Edge.Tests;

namespace Edge.Host.Tests;

/// <summary>
/// Zones and lines through the real <c>edge process</c> on vtest.avi: what it reports (frames.jsonl, events) agrees with
/// the tracks it reports, and a layout that cannot work is one config error.
/// </summary>
public sealed class ZoneTests : IDisposable
{
    // A vertical line down the middle of the 768 × 576 frame, and the right half as a zone: people walk across both.
    private const int Middle = 384;
    private readonly string _work = TestData.NewTempFolder();

    private void WriteConfig(string zones) => File.WriteAllText(Path.Combine(_work, "edge.json"),
        $$"""{ "Objects": { "HeadModel": "{{TestData.ObjectHead}}", "Required": true, "Gating": "Motion" }, "Zones": {{zones}} }""");

    [Fact]
    public async Task Process_ZoneAndLine_EventsAgreeWithTheTracks()
    {
        WriteConfig($$"""
            { "Zones": [ { "Name": "right", "Points": [[{{Middle}}, 0], [767, 0], [767, 575], [{{Middle}}, 575]] } ],
              "Lines": [ { "Name": "middle", "Points": [[{{Middle}}, 0], [{{Middle}}, 575]] } ] }
            """);
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.Vtest, "--out", "out", "--max-frames", "200", "--config", "edge.json", .. EdgeProcess.ModelArgs]);
        Assert.True(result.ExitCode == 0, result.Stderr);

        var frames = File.ReadAllLines(Path.Combine(_work, "out", "frames.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        // Each track's ground point (bottom centre of its box) per frame, as frames.jsonl gives the tracks.
        var ground = new Dictionary<(long Track, int Frame), double>();
        for (var f = 0; f < frames.Count; f++)
        {
            foreach (var t in frames[f].GetProperty("tracks").EnumerateArray())
            {
                var box = t.GetProperty("box");
                ground[(t.GetProperty("id").GetInt64(), f)] = (box[0].GetInt32() + box[2].GetInt32()) / 2.0;
            }
        }
        var reported = frames.SelectMany((f, i) => f.TryGetProperty("zoneEvents", out var z) ? z.EnumerateArray().Select(e => (Frame: i, Event: e)) : []).ToList();
        var crossings = reported.Where(r => r.Event.GetProperty("kind").GetString() == "cross").ToList();
        var entries = reported.Where(r => r.Event.GetProperty("kind").GetString() == "enter").ToList();
        Assert.True(crossings.Count >= 2, $"{crossings.Count} crossings of the middle line in 20 s of people walking");
        Assert.True(entries.Count >= 2, $"{entries.Count} entries into the right half");

        foreach (var (frame, e) in crossings)
        {
            // The track is on the side it crossed to at the frame that confirmed it, and was on the other side before.
            var track = e.GetProperty("track").GetInt64();
            var now = ground[(track, frame)];
            var before = Enumerable.Range(0, frame).Where(f => ground.ContainsKey((track, f))).Select(f => ground[(track, f)]).ToList();
            Assert.True(before.Count > 0, $"track {track} crossed at frame {frame} without being seen before");
            Assert.Contains(before, x => Math.Sign(x - Middle) == -Math.Sign(now - Middle));
            Assert.Equal("middle", e.GetProperty("name").GetString());
        }
        foreach (var (frame, e) in entries)
        {
            Assert.True(ground[(e.GetProperty("track").GetInt64(), frame)] > Middle, $"an entry at frame {frame} with the track on the left");
        }

        // Every zone event is also an event (same store and files as anomaly events), labelled with what happened.
        var events = File.ReadAllLines(Path.Combine(_work, "out", "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("kind").GetString() == "zone").ToList();
        Assert.Equal(reported.Count, events.Count);
        Assert.Equal(crossings.Count, events.Count(e => e.GetProperty("label").GetString()!.StartsWith("cross middle ", StringComparison.Ordinal)));
        Assert.All(events, e => Assert.True(File.Exists(Path.Combine(_work, "out", e.GetProperty("snapshot").GetString()!))));
        // The region is the track's box where the track is in that frame; a track that ended inside exits with none.
        Assert.All(events, e => Assert.Equal(ground.ContainsKey((e.GetProperty("track").GetInt64(), (int)e.GetProperty("peakFrame").GetInt64())),
            e.GetProperty("region").ValueKind == JsonValueKind.Array));
    }

    [Fact]
    public async Task Process_BadLayouts_OneConfigErrorEach()
    {
        WriteConfig("""{ "Zones": [ { "Name": "bow", "Points": [[0, 0], [100, 100], [100, 0], [0, 100]] } ] }""");
        var crossed = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "out", "--config", "edge.json", .. EdgeProcess.ModelArgs]);
        Assert.Equal(3, crossed.ExitCode);
        Assert.Contains("bow", crossed.Stderr, StringComparison.Ordinal);
        Assert.Single(crossed.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:", StringComparison.Ordinal));

        WriteConfig("""{ "Lines": [ { "Name": "door", "Points": [[100, 100], [2000, 100]] } ] }""");
        var outside = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "out2", "--config", "edge.json", .. EdgeProcess.ModelArgs]);
        Assert.Equal(3, outside.ExitCode);
        Assert.Contains("outside the 768×576 frame", outside.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", outside.Stderr, StringComparison.Ordinal);
        var out2 = Path.Combine(_work, "out2");
        Assert.Empty(Directory.Exists(out2) ? Directory.GetFileSystemEntries(out2) : []); // nothing half-written
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using System.Diagnostics;
using Edge.Pipeline.Zones;

namespace Edge.Pipeline.Tracking;

/// <summary>What the tracker and the zone monitor cost per frame, and whether they kept the identities while measured.</summary>
/// <param name="Confirmed">Tracks confirmed over the whole run: equal to <paramref name="Tracks"/> when no identity was lost.</param>
public sealed record TrackingCost(int Tracks, int Frames, double TrackerUsPerFrame, double ZonesUsPerFrame, long Confirmed, int ActiveAtEnd)
{
    public double TotalUsPerFrame => TrackerUsPerFrame + ZonesUsPerFrame;

    /// <summary>With a per-track activity model: its stage's time per frame (steps, rings and the batched model calls), else null.</summary>
    public double? ActivityUsPerFrame { get; init; }

    /// <summary>Windows the per-track model labelled, and the calls they took (one per frame with windows due).</summary>
    public long ActivityWindows { get; init; }

    public long ActivityCalls { get; init; }
}

/// <summary>
/// Measures <see cref="MultiObjectTracker"/> and <see cref="ZoneMonitor"/> on a synthetic stream: <c>tracks</c> people
/// (30×45 px) walking back and forth in their own lanes of a 768×576 frame at 10 fps, each detection with ±2 px of
/// jitter and a 512-d embedding (the object stage's crop embedding), against two zones and two lines, after a
/// warm-up run. With a per-track activity model, its stage runs after the tracker on every frame (on random grids of
/// the frame model's shape) and is timed apart. Only those calls are timed; making the detections and grids is not.
/// </summary>
public static class TrackingBenchmark
{
    /// <param name="activity">A per-track activity model that answers on the caller's thread (not a shared, batching one), or null.</param>
    public static TrackingCost Run(int tracks = 10, int frames = 3_000, int embeddingSize = 512, int seed = 1, TrackingOptions? options = null,
        Models.IWindowModel? activity = null, Models.GridDescription? grid = null)
    {
        // A whole run first, thrown away: the first run in a process measured 5-10 times slower than the next ones
        // (tiered compilation still running unoptimised code), however long its own warm-up.
        Measure(tracks, 2_000, embeddingSize, seed + 1, options, activity, grid);
        return Measure(tracks, frames, embeddingSize, seed, options, activity, grid);
    }

    private static TrackingCost Measure(int tracks, int frames, int embeddingSize, int seed, TrackingOptions? options,
        Models.IWindowModel? activityModel, Models.GridDescription? grid)
    {
        var random = new Random(seed);
        var (width, height) = (768f, 576f);
        var lanes = Enumerable.Range(0, tracks).Select(i => (
            Y: 20 + i * (height - 140) / Math.Max(1, tracks - 1) * 0.98f,
            X: (float)random.NextDouble() * (width - 60),
            Speed: 3 + 6 * (float)random.NextDouble(),
            Looks: Looks(random, embeddingSize))).ToArray();
        var layout = ZoneLayout.Create(new ZoneLayoutOptions
        {
            Zones =
            [
                new ZoneOptions { Name = "left", Points = [[0, 0], [300, 0], [300, 576], [0, 576]] },
                new ZoneOptions { Name = "dock", Points = [[400, 200], [700, 250], [650, 500], [420, 450]] },
            ],
            Lines =
            [
                new LineOptions { Name = "door", Points = [[384, 575], [384, 0]] },
                new LineOptions { Name = "gate", Points = [[100, 300], [700, 320]] },
            ],
        }, (int)width, (int)height);
        var tracker = new MultiObjectTracker(options ?? new TrackingOptions());
        var monitor = new ZoneMonitor(layout);
        var activity = activityModel is not null && grid is not null ? new TrackActivity(activityModel, grid, new Events.EventRules()) : null;
        var grids = activity is null ? [] : Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, grid!.Size).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        var detections = new List<Detection>(tracks);
        long trackerTicks = 0, zoneTicks = 0, activityTicks = 0;
        var warmUp = 500;
        for (var t = 0; t < frames + warmUp; t++)
        {
            detections.Clear();
            for (var i = 0; i < lanes.Length; i++)
            {
                ref var lane = ref lanes[i];
                lane.X += lane.Speed;
                if (lane.X < 0 || lane.X > width - 60)
                {
                    lane.Speed = -lane.Speed;
                    lane.X += 2 * lane.Speed;
                }
                var (jx, jy) = ((float)random.NextDouble() * 4 - 2, (float)random.NextDouble() * 4 - 2);
                detections.Add(new Detection(new BoxXyxy(lane.X + jx, lane.Y + jy, lane.X + 30 + jx, lane.Y + 45 + jy), 0.9f, "person", lane.Looks[t % 4]));
            }
            var began = Stopwatch.GetTimestamp();
            var update = tracker.Update(t, t * 100.0, detections);
            var tracked = Stopwatch.GetTimestamp();
            monitor.Update(update);
            var judged = Stopwatch.GetTimestamp();
            if (activity is not null)
            {
                var result = new FrameResult("bench", t, t * 100.0, [], 0, 0) { Grid = grids[t % grids.Length], Width = (int)width, Height = (int)height };
                // The model answers on this thread (a plain session): the task is complete when it returns.
                activity.UpdateAsync(result, update, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            }
            var labelled = Stopwatch.GetTimestamp();
            if (t >= warmUp)
            {
                trackerTicks += tracked - began;
                zoneTicks += judged - tracked;
                activityTicks += labelled - judged;
            }
        }
        double Us(long ticks) => ticks * 1e6 / Stopwatch.Frequency / frames;
        return new TrackingCost(tracks, frames, Us(trackerTicks), Us(zoneTicks), tracker.Stats.Confirmed, tracker.Stats.Active)
        {
            ActivityUsPerFrame = activity is null ? null : Us(activityTicks),
            ActivityWindows = activity?.Windows ?? 0,
            ActivityCalls = activity?.Calls ?? 0,
        };
    }

    /// <summary>Four views of one person: a base vector plus a little noise each (crops of one person differ a little).</summary>
    private static float[][] Looks(Random random, int size)
    {
        var person = Enumerable.Range(0, size).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        return [.. Enumerable.Range(0, 4).Select(_ => person.Select(v => v + 0.1f * ((float)random.NextDouble() - 0.5f)).ToArray())];
    }
}

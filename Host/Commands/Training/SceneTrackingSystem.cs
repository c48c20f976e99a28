using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Tracking;
using Edge.Pipeline.Zones;
using Edge.Training.Data;
using Edge.Training.Evaluation;

namespace Edge.Host.Commands;

/// <summary>
/// The pipeline's tracker and zone monitor behind a box source, as the object stage feeds them in <c>edge process</c>
/// and <c>edge run</c>: what <c>edge eval tracking</c> measures on each scene. Every frame's boxes also go to a
/// <see cref="DetectionEvaluation"/> when one is given, so detection and tracking are measured on the same boxes.
/// Disposes <paramref name="owned"/> (the box source's native state) with itself.
/// </summary>
/// <param name="activity">Per-track activity on the tracker's tracks, judged against the scene's truth; null for none.</param>
public sealed class SceneTrackingSystem(MultiPersonScenes.Scene scene, Func<SceneFrame, IReadOnlyList<BoxDetection>> source,
    TrackingOptions? tracking = null, DetectionEvaluation? detection = null, IDisposable? owned = null, TrackActivityTally.Scene? activity = null) : ISceneTracker
{
    private readonly MultiObjectTracker _tracker = new(tracking ?? new TrackingOptions());
    private readonly ZoneMonitor _zones = new(ZoneLayout.Create(new ZoneLayoutOptions
    {
        Lines = [.. scene.Lines.Select(l => new LineOptions { Name = l.Name, Points = l.Points })],
        Zones = [.. scene.Zones.Select(z => new ZoneOptions { Name = z.Name, Points = z.Points })],
    }, scene.Width, scene.Height));

    public IReadOnlyList<MotBox> Track(SceneFrame frame)
    {
        var boxes = source(frame);
        detection?.Add(frame.Truth, boxes);
        var detections = boxes.Select(d => new Detection(new BoxXyxy((float)d.Left, (float)d.Top, (float)(d.Left + d.Width), (float)(d.Top + d.Height)), d.Score)).ToList();
        var update = _tracker.Update(frame.Frame, frame.TimestampMs, detections);
        _zones.Update(update);
        activity?.Add(frame, update);
        return [.. update.Present.Select(t => new MotBox(frame.Frame, (int)t.Id, t.Box.X1, t.Box.Y1, t.Box.Width, t.Box.Height))];
    }

    public IReadOnlyList<LineTally> LineCounts() => [.. _zones.Counters.Lines.Select(l => new LineTally(l.Name, l.LeftToRight, l.RightToLeft))];

    public IReadOnlyList<ZoneTally> ZoneEntries() => [.. _zones.Counters.Zones.Select(z => new ZoneTally(z.Name, z.Entries))];

    public void Dispose() => owned?.Dispose();

    /// <summary>Boxes from a detector (Edge's or a YOLO export) on every frame, person class only when it has one.</summary>
    public static Func<SceneFrame, IReadOnlyList<BoxDetection>> DetectorBoxes(BoxDetector detector, float minScore, float nmsIou)
    {
        var person = detector.Labels.ToList().IndexOf("person");
        return frame => [.. detector.Detect([frame.Image], minScore, nmsIou)[0]
            .Where(b => person < 0 || b.Class == person)
            .Select(b => new BoxDetection(b.X1, b.Y1, b.X2 - b.X1, b.Y2 - b.Y1, b.Score))];
    }

    /// <summary>The object stage's motion regions (no model), as boxes of score 1.</summary>
    public static Func<SceneFrame, IReadOnlyList<BoxDetection>> MotionBoxes(MotionDetector motion) =>
        frame => [.. motion.Detect(frame.Image).Select(r => new BoxDetection(r.X, r.Y, r.Width, r.Height))];
}

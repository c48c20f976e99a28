using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Tracking;
using Edge.Training.Data;
using Edge.Training.Evaluation;
using OpenCvSharp;

namespace Edge.Host.Commands;

/// <summary>
/// Per-track activity through a box source and the tracker, as <c>edge process</c> serves it: each frame goes through
/// the frame model (its grid) and the tracker's update through <see cref="TrackActivity"/>; every present track with
/// a label is matched to a ground-truth person of that frame (IoU ≥ 0.5, best overlap first) and its label compared
/// with what the person did over the model's window ending at that frame (one activity throughout, or a fall starting
/// at frame 2–5 of it, as in <see cref="TrackWindows"/>); track-frames whose window is neither are not counted.
/// One per box source; its scenes add up in <see cref="Confusion"/>.
/// </summary>
public sealed class TrackActivityTally(FrameEmbedder embedder, IWindowModel model)
{
    private readonly string[] _labels = model.Manifest.Labels;

    public int[,] Confusion { get; } = new int[model.Manifest.Labels.Length, model.Manifest.Labels.Length];

    /// <summary>Track-frames matched to a person whose window has one label, with and without a label from the model.</summary>
    public long Judged { get; private set; }

    public long Unlabelled { get; private set; }

    public string[] Labels => _labels;

    public IWindowModel Model { get; } = model;

    /// <summary>Share of the judged track-frames labelled right (a track not yet labelled counts as wrong).</summary>
    public double Accuracy => Judged == 0 ? 0 : Enumerable.Range(0, _labels.Length).Sum(i => Confusion[i, i]) / (double)Judged;

    /// <summary>The mean over classes of the share of each class's labelled track-frames labelled right.</summary>
    public double MeanRecall => Metrics.MeanRecall(Confusion);

    /// <summary>A scene's per-track activity stage (one per scene, as each stream has its own).</summary>
    public Scene Start(MultiPersonScenes.Scene scene) => new(this, scene, new TrackActivity(Model, embedder.Grid!, new Pipeline.Events.EventRules()));

    public sealed class Scene(TrackActivityTally tally, MultiPersonScenes.Scene scene, TrackActivity activity)
    {
        public void Add(SceneFrame frame, TrackingUpdate update)
        {
            var features = tally.EmbedGrid(frame.Image);
            var result = new FrameResult("scene", frame.Frame - 1, frame.TimestampMs, [], 0, 0) { Grid = features, Width = frame.Image.Width, Height = frame.Image.Height };
            // The model answers on this thread (a plain session): the task is complete when it returns.
            var (labels, _) = activity.UpdateAsync(result, update, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            var truth = frame.Truth.Where(b => b.Evaluated).ToList();
            var pairs = update.Present
                .SelectMany(t => truth.Select(b => (Track: t, Truth: b, Iou: MotBox.Iou(new MotBox(frame.Frame, 0, t.Box.X1, t.Box.Y1, t.Box.Width, t.Box.Height), b))))
                .Where(p => p.Iou >= 0.5).OrderByDescending(p => p.Iou).ToList();
            var (usedTracks, usedPeople) = (new HashSet<long>(), new HashSet<int>());
            foreach (var (track, box, _) in pairs)
            {
                if (!usedTracks.Add(track.Id) || !usedPeople.Add(box.Id))
                {
                    continue;
                }
                if (Truth(scene.People.Single(p => p.Id == box.Id), frame.Frame, tally.Model.InputFrames) is not { } expected)
                {
                    continue;
                }
                tally.Judged++;
                if (labels.TryGetValue(track.Id, out var label))
                {
                    tally.Confusion[expected, Array.IndexOf(tally._labels, label.Label)]++;
                }
                else
                {
                    tally.Unlabelled++;
                }
            }
        }

        /// <summary>The label of the person's window of <paramref name="frames"/> ending at <paramref name="frame"/>, by <see cref="TrackWindows"/>' rule; null when it has none.</summary>
        private int? Truth(MultiPersonScenes.Person person, int frame, int frames)
        {
            var first = frame - frames + 1;
            if (first < person.FirstFrame)
            {
                return null;
            }
            var activities = Enumerable.Range(first, frames).Select(person.ActivityAt).ToList();
            var fall = activities.IndexOf("fall");
            var label = fall >= 0 ? (fall is >= 2 and <= 5 && activities[..fall].All(a => a != "fall") ? "fall" : null)
                : activities.All(a => a == activities[0]) ? activities[0] : null;
            var index = label is null ? -1 : Array.IndexOf(tally._labels, label);
            return index >= 0 ? index : null;
        }
    }

    private float[] EmbedGrid(Mat image)
    {
        embedder.EmbedWithGrid([image], out var grid);
        return grid.ToArray();
    }
}

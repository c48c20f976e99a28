using Edge.Models;

namespace Edge.Training.Data;

/// <summary>
/// Where per-track activity material comes from in generated scenes (<see cref="MultiPersonScenes"/>): for each
/// ground-truth person, windows of <see cref="Options.Frames"/> frames in which they do one thing. A window is kept
/// when every frame has an evaluated box and the person's mean visibility reaches <see cref="Options.MinVisibility"/>;
/// it is labelled by the activity of all its frames, or "fall" when the fall starts at frame 2–5 of the window (as in
/// the activity clips). Windows across other changes of activity, and windows of someone lying after a fall, are
/// skipped. <c>edge data tracks</c> writes each window's per-track steps.
/// </summary>
public static class TrackWindows
{
    public sealed record Options
    {
        /// <summary>Frames per window: the per-track activity model's window.</summary>
        public int Frames { get; init; } = 12;

        /// <summary>Frames between the starts of consecutive windows of one person.</summary>
        public int Stride { get; init; } = 6;

        public double MinVisibility { get; init; } = 0.6;
    }

    /// <summary>The windows of one scene worth learning from, by the rules in the class summary.</summary>
    public static List<(MultiPersonScenes.Person Person, int FirstFrame, string Label, double MeanVisibility)> Windows(
        MultiPersonScenes.Scene scene, IReadOnlyList<MotBox> truth, Options options)
    {
        var byPerson = truth.Where(b => b.Evaluated).GroupBy(b => b.Id).ToDictionary(g => g.Key, g => g.ToDictionary(b => b.Frame));
        var windows = new List<(MultiPersonScenes.Person, int, string, double)>();
        foreach (var person in scene.People)
        {
            if (!byPerson.TryGetValue(person.Id, out var boxes))
            {
                continue;
            }
            var fall = person.Activities.FirstOrDefault(a => a.Activity == "fall");
            var starts = Enumerable.Range(0, int.MaxValue).Select(k => person.FirstFrame + k * options.Stride).TakeWhile(f => f + options.Frames - 1 <= person.LastFrame);
            if (fall is not null)
            {
                // Every placement of the fall's onset at frame 2-5 of the window (counting from 0), as in the activity clips.
                starts = starts.Concat(Enumerable.Range(2, 4).Select(offset => fall.FirstFrame - offset));
            }
            foreach (var first in starts.Distinct().Order())
            {
                var last = first + options.Frames - 1;
                if (first < person.FirstFrame || last > person.LastFrame || !Enumerable.Range(first, options.Frames).All(boxes.ContainsKey))
                {
                    continue;
                }
                var activities = Enumerable.Range(first, options.Frames).Select(person.ActivityAt).ToList();
                string label;
                if (fall is not null && activities.Contains("fall"))
                {
                    var onset = fall.FirstFrame - first;
                    if (onset < 2 || onset > 5)
                    {
                        continue;
                    }
                    label = "fall";
                }
                else if (activities.All(a => a == activities[0]) && activities[0] is { } only)
                {
                    label = only;
                }
                else
                {
                    continue;
                }
                var visibility = Enumerable.Range(first, options.Frames).Average(f => boxes[f].Visibility);
                if (visibility >= options.MinVisibility)
                {
                    windows.Add((person, first, label, Math.Round(visibility, 3)));
                }
            }
        }
        return windows;
    }
}

namespace Edge.Models;

/// <summary>
/// What a per-track activity model reads at each step of a track: how the person changed since their previous
/// observation, from the frame model's grid (no second CNN pass) and their box. A step is the grid pooled under the box
/// (<see cref="RegionPooling"/>) minus the previous observation's, then the box's motion relative to its own size —
/// centre shift / mean height (x and y), log height ratio, aspect (width / height) change — all per step elapsed,
/// and last the aspect itself (a lying person is wide). A track's first observation has no change: zeros and its
/// aspect. Relative to the person's size, the same stride reads the same near and far, and what a person looks like
/// (their clothes) is not in it, only how it changes. Training material (<c>edge data tracks</c>) and serving
/// (<c>Tracking:ActivityModel</c>) both compute steps here.
/// </summary>
public static class TrackFeatures
{
    /// <summary>The manifest's <see cref="ModelManifest.Features"/> of a sequence model over track steps.</summary>
    public const string Name = "track-steps";

    /// <summary>Values after the pooled grid channels: centre shift x and y, log height ratio, aspect change, aspect.</summary>
    public const int BoxValues = 5;

    /// <summary>Values per step for a frame model with this grid.</summary>
    public static int Size(GridDescription grid) => grid.Channels + BoxValues;

    /// <summary>
    /// One step into <paramref name="output"/> (<see cref="Size"/> long): <paramref name="pooled"/> is the grid pooled
    /// under <paramref name="box"/> [x1, y1, x2, y2] now; <paramref name="previousPooled"/> and
    /// <paramref name="previousBox"/> the same at the previous observation, <paramref name="gap"/> steps earlier (the
    /// time between them over the model's <see cref="ModelManifest.StepMs"/>; 1 in material at the model's rate), or
    /// empty for a track's first observation.
    /// </summary>
    public static void Step(ReadOnlySpan<float> pooled, ReadOnlySpan<float> box, ReadOnlySpan<float> previousPooled,
        ReadOnlySpan<float> previousBox, double gap, Span<float> output)
    {
        var channels = pooled.Length;
        if (output.Length != channels + BoxValues || box.Length != 4)
        {
            throw new ArgumentException($"a step of {channels} grid channels needs {channels + BoxValues} values and a box of 4");
        }
        var (w, h) = (Math.Max(1f, box[2] - box[0]), Math.Max(1f, box[3] - box[1]));
        output[channels + 4] = w / h;
        if (previousPooled.IsEmpty)
        {
            output[..(channels + 4)].Clear();
            return;
        }
        if (previousPooled.Length != channels || previousBox.Length != 4 || !(gap > 0))
        {
            throw new ArgumentException("the previous observation needs the same channels, a box of 4 and a positive gap");
        }
        var scale = (float)(1 / gap);
        for (var c = 0; c < channels; c++)
        {
            output[c] = (pooled[c] - previousPooled[c]) * scale;
        }
        var (pw, ph) = (Math.Max(1f, previousBox[2] - previousBox[0]), Math.Max(1f, previousBox[3] - previousBox[1]));
        var meanHeight = (h + ph) / 2;
        output[channels] = ((box[0] + box[2]) - (previousBox[0] + previousBox[2])) / 2 / meanHeight * scale;
        output[channels + 1] = ((box[1] + box[3]) - (previousBox[1] + previousBox[3])) / 2 / meanHeight * scale;
        output[channels + 2] = MathF.Log(h / ph) * scale;
        output[channels + 3] = (w / h - pw / ph) * scale;
    }
}

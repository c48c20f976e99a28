using Edge.Capture;
using Edge.Models;
using OpenCvSharp;

namespace Edge.Pipeline;

/// <summary>An object in a frame: its box in original-frame pixels (x1, y1, x2, y2), the head's label and its probability.</summary>
public sealed record DetectedObject(int[] BoxXyxy, string Label, float Confidence)
{
    /// <summary>The frame model's embedding of the object's crop (what the head classified), for appearance matching across frames; null when none was computed.</summary>
    public float[]? Embedding { get; init; }
}

/// <summary>What the object stage did in a run, for the summary.</summary>
/// <param name="Runs">Frames the crop CNN ran on (or whose grid was pooled under regions).</param>
/// <param name="Skipped">Frames it did not run on: gated out, or nothing to crop.</param>
/// <param name="Features">What regions are classified from: crop-embedding, grid-region, or detector.</param>
public sealed record ObjectStats(string Gating, long Frames, long Runs, long Skipped, long Crops, long Objects, string Features);

/// <summary>
/// The object stage, run inside the CNN stage while the pixels exist, on the frames <see cref="ObjectOptions.Gating"/>
/// lets through. Two ways to find objects:
/// <list type="bullet">
/// <item>motion regions and a head (the default, no detector model): per stream, motion regions
/// (<see cref="MotionDetector"/>); the largest cropped with a margin and squared, embedded by the frame model in
/// batches, and classified by the head; regions the head calls "background" are not reported;</item>
/// <item>a box detector (<see cref="ObjectOptions.DetectorModel"/>: Edge's own or a YOLO export): its boxes above
/// <see cref="ObjectOptions.DetectorMinScore"/> after non-maximum suppression, labeled with its class names; people
/// who stand still are found as well as those who move, and people side by side stay apart.</item>
/// </list>
/// Does not own the embedder or the head; owns the box detector, and one motion detector per stream, and frees them
/// when disposed. Not thread-safe: the CNN stage is its only caller.
/// </summary>
public sealed class ObjectDetector : IDisposable
{
    public const string BackgroundLabel = "background";

    private readonly IFrameEmbedder _embedder;
    private readonly EmbeddingClassifier? _head;
    private readonly BoxDetector? _detector;
    private readonly ObjectOptions _options;
    private readonly Dictionary<string, StreamState> _streams = new(StringComparer.Ordinal);
    private long _frames;
    private long _runs;
    private long _crops;
    private long _objects;

    /// <param name="head">Classifies motion regions; may be null only with a <paramref name="detector"/>.</param>
    /// <param name="detector">Finds the objects instead of motion regions and the head; owned from here on.</param>
    public ObjectDetector(IFrameEmbedder embedder, EmbeddingClassifier? head, ObjectOptions options, BoxDetector? detector = null)
    {
        if (head is null && detector is null)
        {
            throw new ArgumentException("the object stage needs a head or a box detector");
        }
        if (detector is null && head!.ReadsGrid && head.Manifest.FeatureSize != embedder.Grid?.Channels)
        {
            throw new ModelException(ModelError.Invalid,
                $"the object head reads {head.Manifest.FeatureSize}-channel grid regions but the frame model's grid has {embedder.Grid?.Channels.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no"} channels");
        }
        if (detector is null && !head!.ReadsGrid && head.Manifest.FeatureSize != embedder.EmbeddingSize)
        {
            throw new ModelException(ModelError.Invalid,
                $"the object head reads {head.Manifest.FeatureSize}-d features but the frame model gives {embedder.EmbeddingSize}-d embeddings");
        }
        _embedder = embedder;
        _head = head;
        _detector = detector;
        _options = options;
    }

    /// <summary>What finds the objects, for the log and the summary: "detector NAME" or "motion regions + head NAME".</summary>
    public string Source => _detector is { } d ? $"detector {Path.GetFileName(d.Path)}" : $"motion regions + head {_head!.Manifest.Name}";

    /// <summary>
    /// Whether the head classifies motion regions from the frame's own grid (pooled under each region's box, no second
    /// CNN pass): then <see cref="DetectAsync"/> needs each frame's grid.
    /// </summary>
    public bool ReadsGrid => _detector is null && _head!.ReadsGrid;

    /// <summary>The box detector's file; null when motion regions and the head find objects.</summary>
    public string? DetectorPath => _detector?.Path;

    /// <summary>The labels objects can have.</summary>
    public IReadOnlyList<string> Labels => _detector?.Labels ?? [.. _head!.Labels.Where(l => l != BackgroundLabel)];

    public ObjectStats Stats =>
        new(_options.Gating.ToString(), Interlocked.Read(ref _frames), Interlocked.Read(ref _runs),
            Interlocked.Read(ref _frames) - Interlocked.Read(ref _runs), Interlocked.Read(ref _crops), Interlocked.Read(ref _objects),
            _detector is not null ? "detector" : _head!.ReadsGrid ? EmbeddingClassifier.GridFeatures : EmbeddingClassifier.CropFeatures);

    /// <summary>
    /// The objects of each frame, in order. <paramref name="ranCrops"/> says which frames the crop CNN ran on (or whose
    /// grid was pooled); the others were skipped (gated out, or nothing to crop). With a head that
    /// <see cref="ReadsGrid"/>, <paramref name="grids"/> holds each frame's grid from the frame model's pass.
    /// </summary>
    public async Task<(IReadOnlyList<DetectedObject>[] Objects, bool[] RanCrops)> DetectAsync(IReadOnlyList<Frame> frames, CancellationToken ct,
        IReadOnlyList<float[]?>? grids = null)
    {
        if (ReadsGrid && (grids is null || grids.Count != frames.Count || grids.Any(g => g is null)))
        {
            throw new ArgumentException("the object head reads each frame's grid, and the batch came without one", nameof(grids));
        }
        if (_detector is not null)
        {
            return DetectBoxes(frames);
        }
        // Decide per frame first, so every crop of the batch goes through the CNN together.
        var due = new bool[frames.Count];
        var crops = new List<(int Frame, Rect Box, Rect Crop)>();
        var ranCrops = new bool[frames.Count];
        for (var i = 0; i < frames.Count; i++)
        {
            var frame = frames[i];
            var state = StateOf(frame.StreamId);
            var regions = state.Motion!.Detect(frame.Image);
            due[i] = _options.Gating != ObjectGating.EveryNth || state.Seen % _options.EveryNthFrame == 0;
            state.Seen++;
            if (!due[i])
            {
                continue;
            }
            if (regions.Count > 0)
            {
                state.LatestRegions = regions;
            }
            // Always classifies where something moved last once it stops, so an object that halts keeps its label.
            var boxes = _options.Gating == ObjectGating.Always ? state.LatestRegions : regions;
            var bounds = new Rect(0, 0, frame.Image.Width, frame.Image.Height);
            foreach (var box in boxes.Take(_options.MaxObjects))
            {
                crops.Add((i, box, SquareCrop(box, bounds, _options.Margin)));
            }
            ranCrops[i] = boxes.Count > 0;
        }

        var found = ReadsGrid ? ClassifyFromGrids(frames, grids!, crops) : await ClassifyAsync(frames, crops, ct).ConfigureAwait(false);
        var results = new IReadOnlyList<DetectedObject>[frames.Count];
        for (var i = 0; i < frames.Count; i++)
        {
            var state = _streams[frames[i].StreamId];
            if (due[i])
            {
                state.Latest = found[i];
            }
            results[i] = state.Latest;
        }
        Interlocked.Add(ref _frames, frames.Count);
        Interlocked.Add(ref _runs, ranCrops.Count(r => r));
        Interlocked.Add(ref _crops, crops.Count);
        Interlocked.Add(ref _objects, results.Sum(r => r.Count));
        return (results, ranCrops);
    }

    /// <summary>The detector path: every frame the gate lets through goes through the detector, in one batch when it takes one.</summary>
    private (IReadOnlyList<DetectedObject>[] Objects, bool[] RanCrops) DetectBoxes(IReadOnlyList<Frame> frames)
    {
        var due = new bool[frames.Count];
        for (var i = 0; i < frames.Count; i++)
        {
            var state = StateOf(frames[i].StreamId);
            due[i] = _options.Gating switch
            {
                ObjectGating.EveryNth => state.Seen % _options.EveryNthFrame == 0,
                ObjectGating.Motion => state.Motion!.Detect(frames[i].Image).Count > 0,
                _ => true,
            };
            state.Seen++;
        }
        var images = frames.Where((_, i) => due[i]).Select(f => f.Image).ToList();
        var boxes = images.Count == 0 ? [] : _detector!.Detect(images, (float)_options.DetectorMinScore, (float)_options.DetectorNmsIou);
        var results = new IReadOnlyList<DetectedObject>[frames.Count];
        var next = 0;
        for (var i = 0; i < frames.Count; i++)
        {
            var state = _streams[frames[i].StreamId];
            if (due[i])
            {
                state.Latest = [.. boxes[next++].Select(b => new DetectedObject(
                    [(int)MathF.Round(b.X1), (int)MathF.Round(b.Y1), (int)MathF.Round(b.X2), (int)MathF.Round(b.Y2)], _detector!.Labels[b.Class], b.Score))];
            }
            else if (_options.Gating == ObjectGating.Motion)
            {
                state.Latest = []; // nothing moves: no objects, as with motion regions
            }
            results[i] = state.Latest;
        }
        Interlocked.Add(ref _frames, frames.Count);
        Interlocked.Add(ref _runs, images.Count);
        Interlocked.Add(ref _objects, results.Sum(r => r.Count));
        return (results, due);
    }

    private StreamState StateOf(string streamId)
    {
        if (!_streams.TryGetValue(streamId, out var state))
        {
            // The detector path needs motion only to gate on it.
            state = new StreamState(_detector is null || _options.Gating == ObjectGating.Motion ? new MotionDetector(_options.MinAreaPx, _options.MergeGapPx) : null);
            _streams[streamId] = state;
        }
        return state;
    }

    /// <summary>Embeds the crops in batches the frame model takes and keeps the regions not labeled background.</summary>
    private async Task<List<DetectedObject>[]> ClassifyAsync(IReadOnlyList<Frame> frames, List<(int Frame, Rect Box, Rect Crop)> crops, CancellationToken ct)
    {
        var found = Enumerable.Range(0, frames.Count).Select(_ => new List<DetectedObject>()).ToArray();
        var labels = _head!.Labels;
        foreach (var chunk in crops.Chunk(_embedder.MaxBatch))
        {
            // Views into the pooled frames: no copy, disposed before the frames can go back to the pool.
            var views = chunk.Select(c => new Mat(frames[c.Frame].Image, c.Crop)).ToList();
            float[] probabilities;
            float[] embeddings;
            try
            {
                embeddings = await _embedder.EmbedAsync(views, ct).ConfigureAwait(false);
                probabilities = _head.Classify(embeddings, chunk.Length);
            }
            finally
            {
                views.ForEach(v => v.Dispose());
            }
            for (var k = 0; k < chunk.Length; k++)
            {
                Report(found[chunk[k].Frame], chunk[k].Box, probabilities.AsSpan(k * labels.Count, labels.Count),
                    embeddings.AsSpan(k * _embedder.EmbeddingSize, _embedder.EmbeddingSize));
            }
        }
        return found;
    }

    /// <summary>
    /// Classifies each region from its frame's grid pooled under the region's box (<see cref="RegionPooling"/>): the
    /// frame model already ran on the frame, so the object stage costs the pooling and the head, not a CNN pass a crop.
    /// The pooled vector is the object's appearance for the tracker.
    /// </summary>
    private List<DetectedObject>[] ClassifyFromGrids(IReadOnlyList<Frame> frames, IReadOnlyList<float[]?> grids, List<(int Frame, Rect Box, Rect Crop)> crops)
    {
        var found = Enumerable.Range(0, frames.Count).Select(_ => new List<DetectedObject>()).ToArray();
        if (crops.Count == 0)
        {
            return found;
        }
        var grid = _embedder.Grid!;
        var features = new float[crops.Count * grid.Channels];
        for (var k = 0; k < crops.Count; k++)
        {
            var (index, box, _) = crops[k];
            var image = frames[index].Image;
            RegionPooling.Pool(grids[index], grid, image.Width, image.Height, box.Left, box.Top, box.Right, box.Bottom,
                features.AsSpan(k * grid.Channels, grid.Channels));
        }
        var labels = _head!.Labels;
        var probabilities = _head.Classify(features, crops.Count);
        for (var k = 0; k < crops.Count; k++)
        {
            Report(found[crops[k].Frame], crops[k].Box, probabilities.AsSpan(k * labels.Count, labels.Count),
                features.AsSpan(k * grid.Channels, grid.Channels));
        }
        return found;
    }

    /// <summary>Adds the region to <paramref name="found"/> under the head's most likely label, unless that is background.</summary>
    private void Report(List<DetectedObject> found, Rect box, ReadOnlySpan<float> probabilities, ReadOnlySpan<float> appearance)
    {
        var best = 0;
        for (var c = 1; c < probabilities.Length; c++)
        {
            best = probabilities[c] > probabilities[best] ? c : best;
        }
        var label = _head!.Labels[best];
        if (label != BackgroundLabel)
        {
            found.Add(new DetectedObject([box.Left, box.Top, box.Right, box.Bottom], label, probabilities[best]) { Embedding = appearance.ToArray() });
        }
    }

    /// <summary>
    /// The square around <paramref name="box"/> with <paramref name="margin"/> of its longer side added on each side,
    /// moved inside the frame (and no larger than it), so the frame model sees the object unstretched with some context.
    /// </summary>
    public static Rect SquareCrop(Rect box, Rect frame, double margin)
    {
        var side = (int)Math.Round(Math.Max(box.Width, box.Height) * (1 + 2 * margin));
        side = Math.Min(side, Math.Min(frame.Width, frame.Height));
        var x = Math.Clamp(box.X + box.Width / 2 - side / 2, frame.Left, frame.Right - side);
        var y = Math.Clamp(box.Y + box.Height / 2 - side / 2, frame.Top, frame.Bottom - side);
        return new Rect(x, y, side, side);
    }

    public void Dispose()
    {
        foreach (var state in _streams.Values)
        {
            state.Motion?.Dispose();
        }
        _streams.Clear();
        _detector?.Dispose();
    }

    private sealed class StreamState(MotionDetector? motion)
    {
        public MotionDetector? Motion { get; } = motion;

        public long Seen { get; set; }

        /// <summary>The objects of the latest frame the gate let through, which the frames after it carry.</summary>
        public IReadOnlyList<DetectedObject> Latest { get; set; } = [];

        /// <summary>The motion regions of the latest frame that had any.</summary>
        public IReadOnlyList<Rect> LatestRegions { get; set; } = [];
    }
}

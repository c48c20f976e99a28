using System.Text.Json;

namespace Edge.Models.GridAnomaly;

/// <summary>
/// Normal footage's per-frame features, recorded for learning: one folder per contiguous segment (<c>seg-0001/</c>…),
/// each with <c>embeddings.npy</c> (float32 [n, E]), <c>grids.npy</c> (float16 [n, H·W·C], half the disk) and, when
/// the flow was measured, <c>flows.npy</c> (float32 [n, H·W·2], <see cref="FlowFeatures"/>), and a
/// <c>recording.json</c> written last, through a temporary file: a folder without it is an unfinished recording.
/// Frames are exactly what the pipeline computes at serving time (same frame model, same resize). The learner reads a
/// recording twice (<see cref="GridAnomalyLearner"/>); a stream that learns writes one within its disk budget.
/// </summary>
public sealed record FeatureRecording(int EmbeddingSize, GridDescription Grid, string[] Segments, long Frames)
{
    public const string ManifestFile = "recording.json";
    public const string EmbeddingsFile = "embeddings.npy";
    public const string GridsFile = "grids.npy";
    public const string FlowsFile = "flows.npy";

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    /// <summary>
    /// Median time between consecutive frames of a segment, in milliseconds; null when the recorder was not given
    /// timestamps (the rate the learned model's motion is measured at).
    /// </summary>
    public double? FrameIntervalMs { get; init; }

    /// <summary>
    /// The working width the cells' flow was measured at (<see cref="FlowFeatures.WorkingWidth"/>); null for a recording
    /// without flow (made before it was measured), from which a model without the pace term is learned.
    /// </summary>
    public int? FlowWidth { get; init; }

    /// <summary>Values of flow per frame; 0 without flow.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int FlowSize => FlowWidth is null ? 0 : FlowFeatures.Size(Grid);

    /// <summary>The folder the recording is in (not stored in its manifest).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Folder { get; private init; } = "";

    /// <summary>Bytes on disk per recorded frame (embedding as float32, grid as float16, flow as float32).</summary>
    public static long BytesPerFrame(int embeddingSize, GridDescription grid, bool flow) =>
        4L * embeddingSize + 2L * grid.Size + (flow ? 4L * FlowFeatures.Size(grid) : 0);

    /// <summary>Opens a finished recording; a missing or unfinished one is a <see cref="TrainingDataException"/>.</summary>
    public static FeatureRecording Open(string folder)
    {
        var manifest = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifest))
        {
            throw new TrainingDataException($"no finished feature recording in {folder} ({ManifestFile} is missing)");
        }
        FeatureRecording? recording;
        try
        {
            recording = JsonSerializer.Deserialize<FeatureRecording>(File.ReadAllText(manifest), s_json);
        }
        catch (JsonException ex)
        {
            throw new TrainingDataException($"{manifest} is not a feature recording: {ex.Message}");
        }
        return recording is null ? throw new TrainingDataException($"{manifest} is empty") : recording with { Folder = folder };
    }

    /// <summary>
    /// The frames of one segment, in order: the embedding, the grid and the cells' flow (<see cref="FlowFeatures"/>;
    /// null when the recording has none), in buffers that are valid until the next frame (copy what you keep).
    /// </summary>
    public IEnumerable<(float[] Embedding, float[] Grid, float[]? Flow)> Read(string segment)
    {
        var folder = Path.Combine(Folder, segment);
        using var embeddings = new NpyFile.RowReader(Path.Combine(folder, EmbeddingsFile));
        using var grids = new NpyFile.RowReader(Path.Combine(folder, GridsFile));
        if (embeddings.Columns != EmbeddingSize || grids.Columns != Grid.Size || embeddings.Rows != grids.Rows)
        {
            throw new TrainingDataException($"{folder}: embeddings [{embeddings.Rows}, {embeddings.Columns}] and grids [{grids.Rows}, {grids.Columns}] do not match the recording's {EmbeddingSize}-d embeddings and {Grid.Size}-value grids");
        }
        if (FlowSize > 0 && !File.Exists(Path.Combine(folder, FlowsFile)))
        {
            throw new TrainingDataException($"{folder}: {FlowsFile} is missing, but the recording says it has the cells' flow");
        }
        using var flows = FlowSize == 0 ? null : new NpyFile.RowReader(Path.Combine(folder, FlowsFile));
        if (flows is not null && (flows.Columns != FlowSize || flows.Rows != embeddings.Rows))
        {
            throw new TrainingDataException($"{folder}: flows [{flows.Rows}, {flows.Columns}] do not match the recording's {embeddings.Rows} frames of {FlowSize} values");
        }
        var embedding = new float[EmbeddingSize];
        var grid = new float[Grid.Size];
        var flow = flows is null ? null : new float[FlowSize];
        long read = 0;
        while (embeddings.Next(embedding) && grids.Next(grid) && (flows is null || flows.Next(flow!)))
        {
            read++;
            yield return (embedding, grid, flow);
        }
        if (read != embeddings.Rows)
        {
            // A file cut short (a full disk, a copy stopped half-way): learning from part of it would say it learned all.
            throw new TrainingDataException($"{folder}: the recording is damaged: its files hold {read} whole frames of the {embeddings.Rows} their headers give; record it again");
        }
    }

    internal void Save(string folder)
    {
        var path = Path.Combine(folder, ManifestFile);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(this, s_json));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}

/// <summary>
/// Writes a <see cref="FeatureRecording"/> frame by frame. <see cref="Finish"/> closes the files and writes the
/// manifest; disposing without finishing leaves an unfinished recording (no manifest) that
/// <see cref="FeatureRecording.Open"/> refuses. Owns its open files. Not thread-safe.
/// </summary>
public sealed class FeatureRecorder : IDisposable
{
    private readonly string _folder;
    private readonly int _embeddingSize;
    private readonly GridDescription _grid;
    private readonly List<string> _segments = [];
    private NpyFile.Writer? _embeddings;
    private NpyFile.Writer? _grids;
    private NpyFile.Writer? _flows;
    private readonly bool _flow;
    private readonly List<double> _intervalsMs = [];
    private double? _lastTimestampMs;

    /// <param name="flow">Whether every frame comes with its cells' flow (<see cref="FlowFeatures"/>), as the pipeline
    /// measures it for a recording.</param>
    public FeatureRecorder(string folder, int embeddingSize, GridDescription grid, bool flow = false)
    {
        _flow = flow;
        _folder = folder;
        _embeddingSize = embeddingSize;
        _grid = grid;
        Directory.CreateDirectory(folder);
        File.Delete(Path.Combine(folder, FeatureRecording.ManifestFile));
    }

    public long Frames { get; private set; }

    public long Bytes => Frames * FeatureRecording.BytesPerFrame(_embeddingSize, _grid, _flow);

    /// <summary>Each ended segment's median frame step in milliseconds (null without timestamps), in order.</summary>
    public IReadOnlyList<double?> SegmentIntervalsMs => _segmentIntervalsMs;

    private readonly List<double?> _segmentIntervalsMs = [];
    private int _segmentFirstInterval;

    /// <summary>
    /// Adds the next frame of the current segment (a new segment starts after <see cref="EndSegment"/>), with its
    /// timestamp when known: the recording's <see cref="FeatureRecording.FrameIntervalMs"/> is their median step.
    /// </summary>
    public void Add(ReadOnlySpan<float> embedding, ReadOnlySpan<float> grid, double? timestampMs = null, float[]? flow = null)
    {
        if (_flow && flow?.Length != FlowFeatures.Size(_grid))
        {
            throw new ArgumentException($"this recording keeps each frame's flow ({FlowFeatures.Size(_grid)} values), but the frame has {(flow is null ? "none" : flow.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))}", nameof(flow));
        }
        if (_embeddings is not null && _lastTimestampMs is { } last && timestampMs is { } now && now > last && _intervalsMs.Count < MaxIntervals)
        {
            _intervalsMs.Add(now - last);
        }
        _lastTimestampMs = timestampMs;
        if (_embeddings is null)
        {
            var segment = $"seg-{_segments.Count + 1:0000}";
            var folder = Path.Combine(_folder, segment);
            Directory.CreateDirectory(folder);
            _embeddings = new NpyFile.Writer(Path.Combine(folder, FeatureRecording.EmbeddingsFile), _embeddingSize);
            _grids = new NpyFile.Writer(Path.Combine(folder, FeatureRecording.GridsFile), _grid.Size, half: true);
            _flows = _flow ? new NpyFile.Writer(Path.Combine(folder, FeatureRecording.FlowsFile), FlowFeatures.Size(_grid)) : null;
            _segments.Add(segment);
        }
        _embeddings.Append(embedding);
        _grids!.Append(grid);
        _flows?.Append(flow);
        Frames++;
    }

    /// <summary>Frame steps kept to take the median of (the first ones: a recording's rate does not drift).</summary>
    private const int MaxIntervals = 100_000;

    /// <summary>Ends the current segment: the next frame does not follow this one (a cut, a reconnect, another video).</summary>
    public void EndSegment()
    {
        if (_embeddings is not null)
        {
            var steps = _intervalsMs.Skip(_segmentFirstInterval).Order().ToList();
            _segmentIntervalsMs.Add(steps.Count == 0 ? null : steps[steps.Count / 2]);
            _segmentFirstInterval = _intervalsMs.Count;
        }
        _embeddings?.Dispose();
        _grids?.Dispose();
        _flows?.Dispose();
        _embeddings = null;
        _grids = null;
        _flows = null;
    }

    /// <summary>Closes the files and writes the manifest; returns the finished recording.</summary>
    public FeatureRecording Finish()
    {
        EndSegment();
        double? interval = _intervalsMs.Count == 0 ? null : _intervalsMs.Order().ElementAt(_intervalsMs.Count / 2);
        new FeatureRecording(_embeddingSize, _grid, [.. _segments], Frames) { FrameIntervalMs = interval, FlowWidth = _flow ? FlowFeatures.WorkingWidth : null }.Save(_folder);
        return FeatureRecording.Open(_folder);
    }

    public void Dispose() => EndSegment();
}

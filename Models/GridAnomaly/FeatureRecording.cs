using System.Text.Json;

namespace Edge.Models.GridAnomaly;

/// <summary>
/// Normal footage's per-frame features, recorded for learning: one folder per contiguous segment (<c>seg-0001/</c>…),
/// each with <c>embeddings.npy</c> (float32 [n, E]) and <c>grids.npy</c> (float16 [n, H·W·C], half the disk), and a
/// <c>recording.json</c> written last, through a temporary file: a folder without it is an unfinished recording.
/// Frames are exactly what the pipeline computes at serving time (same frame model, same resize). The learner reads a
/// recording twice (<see cref="GridAnomalyLearner"/>); a stream that learns writes one within its disk budget.
/// </summary>
public sealed record FeatureRecording(int EmbeddingSize, GridDescription Grid, string[] Segments, long Frames)
{
    public const string ManifestFile = "recording.json";
    public const string EmbeddingsFile = "embeddings.npy";
    public const string GridsFile = "grids.npy";

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    /// <summary>
    /// Median time between consecutive frames of a segment, in milliseconds; null when the recorder was not given
    /// timestamps (the rate the learned model's motion is measured at).
    /// </summary>
    public double? FrameIntervalMs { get; init; }

    /// <summary>The folder the recording is in (not stored in its manifest).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Folder { get; private init; } = "";

    /// <summary>Bytes on disk per recorded frame (embedding as float32, grid as float16).</summary>
    public static long BytesPerFrame(int embeddingSize, GridDescription grid) => 4L * embeddingSize + 2L * grid.Size;

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
    /// The frames of one segment, in order: the embedding and the grid, in buffers that are valid until the next frame
    /// (copy what you keep).
    /// </summary>
    public IEnumerable<(float[] Embedding, float[] Grid)> Read(string segment)
    {
        var folder = Path.Combine(Folder, segment);
        using var embeddings = new NpyFile.RowReader(Path.Combine(folder, EmbeddingsFile));
        using var grids = new NpyFile.RowReader(Path.Combine(folder, GridsFile));
        if (embeddings.Columns != EmbeddingSize || grids.Columns != Grid.Size || embeddings.Rows != grids.Rows)
        {
            throw new TrainingDataException($"{folder}: embeddings [{embeddings.Rows}, {embeddings.Columns}] and grids [{grids.Rows}, {grids.Columns}] do not match the recording's {EmbeddingSize}-d embeddings and {Grid.Size}-value grids");
        }
        var embedding = new float[EmbeddingSize];
        var grid = new float[Grid.Size];
        while (embeddings.Next(embedding) && grids.Next(grid))
        {
            yield return (embedding, grid);
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
    private readonly List<double> _intervalsMs = [];
    private double? _lastTimestampMs;

    public FeatureRecorder(string folder, int embeddingSize, GridDescription grid)
    {
        _folder = folder;
        _embeddingSize = embeddingSize;
        _grid = grid;
        Directory.CreateDirectory(folder);
        File.Delete(Path.Combine(folder, FeatureRecording.ManifestFile));
    }

    public long Frames { get; private set; }

    public long Bytes => Frames * FeatureRecording.BytesPerFrame(_embeddingSize, _grid);

    /// <summary>
    /// Adds the next frame of the current segment (a new segment starts after <see cref="EndSegment"/>), with its
    /// timestamp when known: the recording's <see cref="FeatureRecording.FrameIntervalMs"/> is their median step.
    /// </summary>
    public void Add(ReadOnlySpan<float> embedding, ReadOnlySpan<float> grid, double? timestampMs = null)
    {
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
            _segments.Add(segment);
        }
        _embeddings.Append(embedding);
        _grids!.Append(grid);
        Frames++;
    }

    /// <summary>Frame steps kept to take the median of (the first ones: a recording's rate does not drift).</summary>
    private const int MaxIntervals = 100_000;

    /// <summary>Ends the current segment: the next frame does not follow this one (a cut, a reconnect, another video).</summary>
    public void EndSegment()
    {
        _embeddings?.Dispose();
        _grids?.Dispose();
        _embeddings = null;
        _grids = null;
    }

    /// <summary>Closes the files and writes the manifest; returns the finished recording.</summary>
    public FeatureRecording Finish()
    {
        EndSegment();
        double? interval = _intervalsMs.Count == 0 ? null : _intervalsMs.Order().ElementAt(_intervalsMs.Count / 2);
        new FeatureRecording(_embeddingSize, _grid, [.. _segments], Frames) { FrameIntervalMs = interval }.Save(_folder);
        return FeatureRecording.Open(_folder);
    }

    public void Dispose() => EndSegment();
}

using System.Text.Json;
using Edge.Models;
using Edge.Pipeline;

namespace Edge.Pipeline.Outputs;

/// <summary>
/// Writes per-frame results: frames.jsonl (one JSON object per frame: stream, index, timestamp, frame age, the row of
/// its embedding, the analysis slot and the objects with box [x1, y1, x2, y2] in frame pixels, label and confidence) and embeddings.npy (float32 [frames, embedding size], loadable by numpy and
/// by training). Both go to the staging folder of an <see cref="OutputDirectory"/>.
/// </summary>
public sealed class ResultFilesSink : IResultSink
{
    public const string FramesFile = "frames.jsonl";
    public const string EmbeddingsFile = "embeddings.npy";

    private readonly FileStream _frames;
    private readonly Utf8JsonWriter _json;
    private readonly NpyFile.Writer _embeddings;
    private bool _disposed;

    public ResultFilesSink(OutputDirectory output, int embeddingSize)
    {
        _frames = new FileStream(output.StagingPath(FramesFile), FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        _json = new Utf8JsonWriter(_frames, new JsonWriterOptions { SkipValidation = true });
        _embeddings = new NpyFile.Writer(output.StagingPath(EmbeddingsFile), embeddingSize);
    }

    public bool NeedsPixels => false;

    public long Frames => _embeddings.Rows;

    public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        _json.WriteStartObject();
        _json.WriteString("stream", result.StreamId);
        _json.WriteNumber("index", result.Index);
        _json.WriteNumber("timestampMs", Math.Round(result.TimestampMs, 3));
        _json.WriteNumber("ageMs", Math.Round(result.AgeMs, 2));
        _json.WriteNumber("embeddingRow", _embeddings.Rows);
        _json.WriteStartObject("analysis");
        if (result.Analysis is { } analysis)
        {
            WriteNullable("activity", analysis.Activity);
            WriteNullable("activityConfidence", analysis.ActivityConfidence);
            WriteNullable("anomalyScore", analysis.AnomalyScore);
            if (analysis.AnomalyCells is not null)
            {
                // Where: the region's box in frame pixels, null when no cell is above its normal p99.
                if (result.AnomalyRegion is { } r)
                {
                    _json.WriteStartArray("anomalyRegion");
                    _json.WriteNumberValue(r.Left);
                    _json.WriteNumberValue(r.Top);
                    _json.WriteNumberValue(r.Right);
                    _json.WriteNumberValue(r.Bottom);
                    _json.WriteEndArray();
                }
                else
                {
                    _json.WriteNull("anomalyRegion");
                }
            }
        }
        _json.WriteEndObject();
        _json.WriteStartArray("objects");
        foreach (var o in result.Objects)
        {
            _json.WriteStartObject();
            _json.WriteStartArray("box");
            foreach (var v in o.BoxXyxy)
            {
                _json.WriteNumberValue(v);
            }
            _json.WriteEndArray();
            _json.WriteString("label", o.Label);
            _json.WriteNumber("confidence", Math.Round(o.Confidence, 4));
            _json.WriteEndObject();
        }
        _json.WriteEndArray();
        _json.WriteStartArray("tracks");
        foreach (var t in result.Tracks)
        {
            _json.WriteStartObject();
            _json.WriteNumber("id", t.Id);
            _json.WriteStartArray("box");
            _json.WriteNumberValue((int)MathF.Round(t.Box.X1));
            _json.WriteNumberValue((int)MathF.Round(t.Box.Y1));
            _json.WriteNumberValue((int)MathF.Round(t.Box.X2));
            _json.WriteNumberValue((int)MathF.Round(t.Box.Y2));
            _json.WriteEndArray();
            _json.WriteString("label", t.Label);
            _json.WriteBoolean("seen", t.Matched);
            _json.WriteNumber("dwellMs", Math.Round(t.DwellMs));
            _json.WriteNumber("speedPxPerS", Math.Round(t.SpeedPxPerS, 1));
            if (result.TrackActivities.TryGetValue(t.Id, out var activity))
            {
                _json.WriteString("activity", activity.Label);
                _json.WriteNumber("activityConfidence", Math.Round(activity.Confidence, 4));
            }
            _json.WriteEndObject();
        }
        _json.WriteEndArray();
        if (result.TrackActivityEvents.Count > 0)
        {
            _json.WriteStartArray("trackActivityEvents");
            foreach (var e in result.TrackActivityEvents)
            {
                _json.WriteStartObject();
                _json.WriteNumber("track", e.TrackId);
                _json.WriteString("activity", e.Label);
                _json.WriteNumber("confidence", Math.Round(e.Confidence, 4));
                _json.WriteEndObject();
            }
            _json.WriteEndArray();
        }
        if (result.ZoneEvents.Count > 0)
        {
            _json.WriteStartArray("zoneEvents");
            foreach (var z in result.ZoneEvents)
            {
                _json.WriteStartObject();
                _json.WriteString("kind", Zones.ZoneEventNames.Kind(z.Kind));
                _json.WriteString("name", z.Name);
                _json.WriteNumber("track", z.TrackId);
                if (z.Direction is { } direction)
                {
                    _json.WriteString("direction", Zones.ZoneEventNames.Direction(direction));
                }
                if (z.DwellMs is { } dwell)
                {
                    _json.WriteNumber("dwellMs", Math.Round(dwell));
                }
                _json.WriteEndObject();
            }
            _json.WriteEndArray();
        }
        _json.WriteEndObject();
        _json.Flush();
        _frames.WriteByte((byte)'\n');
        _json.Reset();
        _embeddings.Append(result.Embedding);
        return ValueTask.CompletedTask;
    }

    private void WriteNullable(string name, string? value)
    {
        if (value is null)
        {
            _json.WriteNull(name);
        }
        else
        {
            _json.WriteString(name, value);
        }
    }

    private void WriteNullable(string name, float? value)
    {
        if (value is { } v)
        {
            _json.WriteNumber(name, v);
        }
        else
        {
            _json.WriteNull(name);
        }
    }

    public ValueTask CompleteAsync(CancellationToken ct) => DisposeAsync();

    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            _json.Dispose();
            _frames.Dispose();
            _embeddings.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}

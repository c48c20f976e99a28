using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Edge.Capture;
using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Composition;
using Edge.Training;
using Edge.Training.Data;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge data tracks</c>: per-track activity material from the multi-person scenes. Each scene runs through the
/// frame model as serving runs it; for every window of one person doing one thing (<see cref="TrackWindows.Windows"/>:
/// 12 frames, every box visible enough, one activity or a fall's onset), it writes the person's
/// <see cref="TrackFeatures"/> steps under their ground-truth box as <c>&lt;split&gt;/&lt;activity&gt;/*.npy</c>
/// (what <c>edge train sequence --input track</c> learns from), and the same frames' whole-frame embeddings as
/// <c>frames/&lt;split&gt;/&lt;activity&gt;/*.npy</c>, so that a whole-frame model can be trained and measured on the
/// very same windows, and what one frame shows of the person (the grid pooled under the box, and its aspect) as
/// <c>still/&lt;split&gt;/&lt;activity&gt;/*.npy</c>, for the single-frame baseline of <c>edge eval activity</c>.
/// <c>tracks.json</c> lists every window. Written through a staging folder.
/// </summary>
public static class DataTracksCommand
{
    public const string MetadataFile = "tracks.json";

    /// <summary>The windows' whole-frame embeddings, by split and activity.</summary>
    public const string FramesFolder = "frames";

    /// <summary>The windows' single-frame views of the person (pooled grid and aspect), by split and activity.</summary>
    public const string StillFolder = "still";

    /// <summary>The single-frame view of a window file <c>ROOT/&lt;split&gt;/&lt;activity&gt;/NAME.npy</c>: <c>ROOT/still/&lt;split&gt;/&lt;activity&gt;/NAME.npy</c>.</summary>
    public static string StillFor(string window)
    {
        var labelFolder = Path.GetDirectoryName(Path.GetFullPath(window))!;
        var splitFolder = Path.GetDirectoryName(labelFolder)!;
        return Path.Combine(Path.GetDirectoryName(splitFolder)!, StillFolder, Path.GetFileName(splitFolder), Path.GetFileName(labelFolder), Path.GetFileName(window));
    }

    public sealed record Window(string Split, string Label, string File, string Scene, int PersonId, int FirstFrame, double MeanVisibility);

    public static int Run(EdgeContext context, string scenesRoot, string output, TrackWindows.Options options, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Data");
        var clock = Stopwatch.StartNew();
        var train = Edge.Training.Evaluation.TrackingHarness.SceneFolders(scenesRoot, "train");
        var test = Edge.Training.Evaluation.TrackingHarness.SceneFolders(scenesRoot, "test");
        var staging = Path.Combine(Path.GetFullPath(output), ".incomplete");
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }
        using var models = context.OpenModels();
        var grid = models.Embedder.Grid
            ?? throw new ModelException(ModelError.Invalid, "per-track steps pool the frame model's grid, but the frame model gives none (prepare it again: `edge models prepare --force`)");
        var windows = new List<Window>();
        var entries = new[] { "train", "test", FramesFolder, StillFolder, MetadataFile };
        try
        {
            foreach (var split in new[] { "train", "test" })
            {
                Directory.CreateDirectory(Path.Combine(staging, split));
                Directory.CreateDirectory(Path.Combine(staging, FramesFolder, split));
                Directory.CreateDirectory(Path.Combine(staging, StillFolder, split));
            }
            var folders = train.Concat(test).ToList();
            var fps = new HashSet<double>();
            for (var i = 0; i < folders.Count; i++)
            {
                var (sceneWindows, sceneFps) = WriteScene(context, models, grid, folders[i], staging, options, ct);
                windows.AddRange(sceneWindows);
                fps.Add(sceneFps);
                logger.LogInformation("{Done}/{Total} scenes: {Windows} windows ({Seconds:0} s)", i + 1, folders.Count, windows.Count, clock.Elapsed.TotalSeconds);
            }
            if (windows.Count == 0)
            {
                throw new TrainingDataException($"no person in {scenesRoot} does one thing for {options.Frames} frames in view: nothing to learn from (longer scenes, or a shorter --frames)");
            }
            if (fps.Count != 1 || !(fps.Single() > 0))
            {
                throw new TrainingDataException($"the scenes in {scenesRoot} have different or unknown frame rates ({string.Join(", ", fps)}): a model's steps need one");
            }
            var counts = windows.GroupBy(w => (w.Split, w.Label)).ToDictionary(g => $"{g.Key.Split}/{g.Key.Label}", g => g.Count());
            File.WriteAllText(Path.Combine(staging, MetadataFile), JsonSerializer.Serialize(new
            {
                features = TrackFeatures.Name,
                stepMs = 1000 / fps.Single(),
                stepSize = TrackFeatures.Size(grid),
                gridChannels = grid.Channels,
                frames = options.Frames,
                stride = options.Stride,
                minVisibility = options.MinVisibility,
                labels = MultiPersonScenes.Activities,
                counts,
                windows,
            }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            // The old material is set aside, the new moved in, and only then is the old deleted.
            Directory.CreateDirectory(output);
            foreach (var entry in entries)
            {
                var target = Path.Combine(output, entry);
                if (Directory.Exists(target))
                {
                    Directory.Move(target, Path.Combine(staging, entry + ".old"));
                }
                if (entry == MetadataFile)
                {
                    File.Move(Path.Combine(staging, entry), target, overwrite: true);
                }
                else
                {
                    Directory.Move(Path.Combine(staging, entry), target);
                }
            }
            Directory.Delete(staging, recursive: true);
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
            throw;
        }
        var c = CultureInfo.InvariantCulture;
        var perLabel = string.Join(", ", MultiPersonScenes.Activities.Select(l => string.Create(c,
            $"{l} {windows.Count(w => w.Split == "train" && w.Label == l)}/{windows.Count(w => w.Split == "test" && w.Label == l)}")));
        AnsiConsole.WriteLine(string.Create(c,
            $"{windows.Count(w => w.Split == "train")} training and {windows.Count(w => w.Split == "test")} test windows of {options.Frames} steps ({TrackFeatures.Size(grid)} values each; train/test {perLabel}) from {train.Count} + {test.Count} scenes in {clock.Elapsed.TotalSeconds:0} s: {Path.GetFullPath(output)}"));
        return ExitCodes.Ok;
    }

    private static (List<Window> Windows, double Fps) WriteScene(EdgeContext context, ModelCatalog models, GridDescription grid, string folder, string staging,
        TrackWindows.Options options, CancellationToken ct)
    {
        var scene = MultiPersonScenes.Scene.Load(Path.Combine(folder, MultiPersonScenes.SceneFile));
        var truth = MotChallengeFile.Read(Path.Combine(folder, MultiPersonScenes.GroundTruthFile));
        var collector = new PooledTruth(grid, truth);
        Task.Run(() => VideoEmbedding.RunAsync(Path.Combine(folder, MultiPersonScenes.VideoFile), new CaptureOptions(), models, context.LoggerFactory, collector, ct), ct)
            .GetAwaiter().GetResult();
        var written = new List<Window>();
        var step = TrackFeatures.Size(grid);
        foreach (var (person, first, label, visibility) in TrackWindows.Windows(scene, truth, options))
        {
            var name = $"{scene.Name}-p{person.Id:D2}-f{first:D4}.npy";
            var steps = new float[options.Frames * step];
            var frames = new float[options.Frames * models.Embedder.EmbeddingSize];
            var still = new float[options.Frames * (grid.Channels + 1)];
            for (var k = 0; k < options.Frames; k++)
            {
                var f = first + k;
                var (pooled, box) = collector.At(f, person.Id);
                var previous = collector.TryAt(f - 1, person.Id);
                TrackFeatures.Step(pooled, box, previous?.Pooled ?? [], previous?.Box ?? [], gap: 1, steps.AsSpan(k * step, step));
                collector.Embedding(f).CopyTo(frames.AsSpan(k * models.Embedder.EmbeddingSize));
                pooled.CopyTo(still.AsSpan(k * (grid.Channels + 1)));
                still[k * (grid.Channels + 1) + grid.Channels] = steps[k * step + step - 1]; // the box's aspect
            }
            Write(Path.Combine(staging, scene.Split, label, name), steps, step);
            Write(Path.Combine(staging, FramesFolder, scene.Split, label, name), frames, models.Embedder.EmbeddingSize);
            Write(Path.Combine(staging, StillFolder, scene.Split, label, name), still, grid.Channels + 1);
            written.Add(new Window(scene.Split, label, Path.Combine(scene.Split, label, name), scene.Name, person.Id, first, visibility));
        }
        return (written, scene.Fps);
    }

    private static void Write(string path, float[] values, int columns)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var writer = new NpyFile.Writer(path, columns);
        for (var row = 0; row < values.Length / columns; row++)
        {
            writer.Append(values.AsSpan(row * columns, columns));
        }
    }

    /// <summary>Keeps each frame's embedding and its grid pooled under every ground-truth box of the frame (frames count from 1, as in gt.txt).</summary>
    private sealed class PooledTruth(GridDescription grid, IReadOnlyList<MotBox> truth) : IResultSink
    {
        private readonly ILookup<int, MotBox> _byFrame = truth.ToLookup(b => b.Frame);
        private readonly Dictionary<(int Frame, int Id), (float[] Pooled, float[] Box)> _pooled = [];
        private readonly Dictionary<int, float[]> _embeddings = [];

        public bool NeedsPixels => false;

        public bool NeedsGrid => true;

        public (float[] Pooled, float[] Box) At(int frame, int id) =>
            _pooled.TryGetValue((frame, id), out var value) ? value : throw new TrainingDataException($"frame {frame} has no box of person {id} (or the video is shorter than its ground truth)");

        public (float[] Pooled, float[] Box)? TryAt(int frame, int id) => _pooled.TryGetValue((frame, id), out var value) ? value : null;

        public float[] Embedding(int frame) =>
            _embeddings.TryGetValue(frame, out var value) ? value : throw new TrainingDataException($"the video has no frame {frame}");

        public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
        {
            var frame = (int)result.Index + 1;
            _embeddings[frame] = result.Embedding;
            foreach (var box in _byFrame[frame])
            {
                var pooled = new float[grid.Channels];
                float[] xyxy = [(float)box.Left, (float)box.Top, (float)box.Right, (float)box.Bottom];
                RegionPooling.Pool(result.Grid, grid, result.Width, result.Height,
                    (int)MathF.Round(xyxy[0]), (int)MathF.Round(xyxy[1]), (int)MathF.Round(xyxy[2]), (int)MathF.Round(xyxy[3]), pooled);
                _pooled[(frame, box.Id)] = (pooled, xyxy);
            }
            return ValueTask.CompletedTask;
        }

        public ValueTask CompleteAsync(CancellationToken ct) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

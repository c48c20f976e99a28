using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Edge.Capture;
using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Composition;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge bench</c>: in one run, over the same frames, decode-only fps, inference-only fps (frames preloaded, resize
/// included) and end-to-end pipeline fps, and the ratio end-to-end / min(decode-only, inference-only).
/// </summary>
public static class BenchCommand
{
    public sealed record Result(string Video, int Frames, int BatchSize, string Provider, int Threads,
        double DecodeFps, double InferenceFps, double EndToEndFps)
    {
        public double Ratio => EndToEndFps / Math.Min(DecodeFps, InferenceFps);
    }

    public static async Task<int> RunAsync(EdgeContext context, string video, int frames, string? jsonPath, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Bench");
        var capture = new CaptureOptions
        {
            MaxFrames = frames,
            FrameStride = context.Get<CaptureOptions>().FrameStride,
            TargetFps = context.Get<CaptureOptions>().TargetFps,
            ResizeWidth = context.Get<CaptureOptions>().ResizeWidth,
            ResizeHeight = context.Get<CaptureOptions>().ResizeHeight,
        };
        await using var models = ModelCatalog.Open(
            new ModelSettings(context.Get<ModelOptions>(), context.Get<AnalysisOptions>(), context.Get<ObjectOptions>()),
            context.Get<PipelineOptions>().BatchSize, context.LoggerFactory);
        var embedder = models.FrameModel;

        // 1. Decode only: the source into a small pool, each frame returned at once.
        var (decoded, decodeSeconds) = Decode(video, capture, ct);
        logger.LogInformation("decode-only: {Frames} frames in {Seconds:0.00} s", decoded, decodeSeconds);

        // 2. Inference only: the same frames held in memory, run in full batches (after one warm-up batch).
        var preloaded = Preload(video, capture, ct);
        double inferenceSeconds;
        try
        {
            Embed(embedder, preloaded.Take(embedder.MaxBatch).ToList());
            var started = Stopwatch.GetTimestamp();
            foreach (var chunk in preloaded.Chunk(embedder.MaxBatch))
            {
                ct.ThrowIfCancellationRequested();
                Embed(embedder, chunk);
            }
            inferenceSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        }
        finally
        {
            foreach (var mat in preloaded)
            {
                mat.Dispose();
            }
        }
        logger.LogInformation("inference-only: {Frames} frames in {Seconds:0.00} s", preloaded.Count, inferenceSeconds);

        // 3. End to end: the stream as edge process builds it, without the object stage, models or sinks.
        PipelineReport report;
        await using (var stream = StreamAssembly.Build(new StreamSpec { Source = video, Capture = capture, Pipeline = context.Get<PipelineOptions>(), ObjectStage = false },
            models, context.LoggerFactory))
        {
            report = await stream.RunAsync(ct).ConfigureAwait(false);
        }
        logger.LogInformation("end-to-end: {Frames} frames in {Seconds:0.00} s", report.FramesProcessed, report.ElapsedSeconds);

        var result = new Result(video, decoded, embedder.MaxBatch, embedder.Provider.ToString(),
            models.Settings.Models.IntraOpThreads == 0 ? Environment.ProcessorCount : context.Get<ModelOptions>().IntraOpThreads,
            decoded / decodeSeconds, preloaded.Count / inferenceSeconds, report.FramesProcessed / report.ElapsedSeconds);
        Print(result);
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new
            {
                result.Video, result.Frames, result.BatchSize, result.Provider, result.Threads,
                result.DecodeFps, result.InferenceFps, result.EndToEndFps, result.Ratio,
            }), ct).ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }

    private static void Embed(FrameEmbedder embedder, IReadOnlyList<Mat> images) => _ = embedder.Embed(images);

    private static (int Frames, double Seconds) Decode(string video, CaptureOptions capture, CancellationToken ct)
    {
        using var source = FrameSources.Open(video, capture);
        using var pool = new FramePool(2);
        var started = Stopwatch.GetTimestamp();
        var count = 0;
        while (source.Read(pool, ct) is { } frame)
        {
            frame.Dispose();
            count++;
        }
        return (count, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    /// <summary>Decodes the frames into Mats the caller owns and must dispose.</summary>
    private static List<Mat> Preload(string video, CaptureOptions capture, CancellationToken ct)
    {
        using var source = FrameSources.Open(video, capture);
        using var pool = new FramePool(2);
        var frames = new List<Mat>();
        while (source.Read(pool, ct) is { } frame)
        {
            using (frame)
            {
                frames.Add(frame.Image.Clone());
            }
        }
        return frames;
    }

    private static void Print(Result r)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("measure", "fps");
        table.AddRow("decode only", r.DecodeFps.ToString("0.0", c));
        table.AddRow($"inference only (batch {r.BatchSize}, {r.Provider}, {r.Threads} threads)", r.InferenceFps.ToString("0.0", c));
        table.AddRow("end to end", r.EndToEndFps.ToString("0.0", c));
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(string.Create(c,
            $"end-to-end / min(decode-only, inference-only) = {r.EndToEndFps:0.0} / {Math.Min(r.DecodeFps, r.InferenceFps):0.0} = {r.Ratio:0.00}"));
    }
}

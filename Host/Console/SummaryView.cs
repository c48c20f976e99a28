using Edge.Models;
using System.Globalization;
using Edge.Pipeline.Delivery;
using Edge.Pipeline;
using Spectre.Console;

namespace Edge.Host.Console;

/// <summary>The table printed at the end of a run: totals first, then one row per stage.</summary>
public static class SummaryView
{
    public static void Print(PipelineReport report, string? outputPath, IReadOnlyList<DeliveryCounts>? delivery = null)
    {
        var c = CultureInfo.InvariantCulture;
        var console = AnsiConsole.Console;
        console.WriteLine();
        console.MarkupLine(string.Create(c,
            $"[bold]{Markup.Escape(report.StreamId)}[/]: {report.FramesRead} frames read, {report.FramesProcessed} processed, {report.FramesDropped} dropped in {report.ElapsedSeconds:0.0} s ({report.Fps:0.0} fps) on {report.Provider}, batch {report.BatchSize}"));
        console.MarkupLine(string.Create(c,
            $"frame age at the CNN's output p50 {report.FrameAgeP50Ms:0} ms, p99 {report.FrameAgeP99Ms:0} ms; frame buffers: {report.PoolPeak} of {report.PoolSize} in use at most"));
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("stage", "in", "out", "fps", "latency p50 ms", "latency p99 ms", "peak queue", "dropped", "skipped");
        foreach (var s in report.Stages)
        {
            table.AddRow(s.Name, s.In.ToString(c), s.Out.ToString(c), s.Fps.ToString("0.0", c),
                s.LatencyP50Ms.ToString("0.00", c), s.LatencyP99Ms.ToString("0.00", c),
                s.PeakQueueDepth.ToString(c), s.Dropped.ToString(c), s.Skipped.ToString(c));
        }
        console.Write(table);
        if (report.Objects is { } o)
        {
            console.MarkupLine(string.Create(c,
                $"objects: gating {o.Gating}, {(o.Features == EmbeddingClassifier.GridFeatures ? "grid regions pooled" : o.Features == "detector" ? "detector" : "crop CNN")} on {o.Runs} of {o.Frames} frames ({o.Skipped} skipped), {o.Crops} crops, {o.Objects} objects reported"));
        }
        if (report.StoppedEarly)
        {
            console.MarkupLine("[yellow]stopped before the end of the source[/]");
        }
        foreach (var d in delivery ?? [])
        {
            console.MarkupLine(string.Create(c, $"delivery to {d.Target}: {d.Delivered} delivered, {d.Pending} pending{(d.Failed > 0 ? $", {d.Failed} refused" : "")}"));
        }
        if (outputPath is not null)
        {
            console.MarkupLine($"results: {Markup.Escape(outputPath)}");
        }
    }
}

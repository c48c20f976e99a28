using System.Globalization;
using Edge.Pipeline;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Console;

/// <summary>
/// Shows a run's progress while it goes: a bar with fps and time left on an interactive terminal (files, where the
/// length is known), otherwise a log line every few seconds.
/// </summary>
public static class ProgressView
{
    public static async Task<T> WatchAsync<T>(FramePipeline pipeline, long? expectedFrames, string title, Task<T> run, ILogger logger)
    {
        if (AnsiConsole.Profile.Capabilities.Interactive && !System.Console.IsOutputRedirected)
        {
            return await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask(title, maxValue: expectedFrames ?? 1);
                    task.IsIndeterminate = expectedFrames is null;
                    while (!run.IsCompleted)
                    {
                        Update(task, pipeline, title, expectedFrames);
                        await Task.WhenAny(run, Task.Delay(200)).ConfigureAwait(false);
                    }
                    Update(task, pipeline, title, expectedFrames);
                    if (expectedFrames is not null)
                    {
                        task.Value = task.MaxValue;
                    }
                    task.StopTask();
                    return await run.ConfigureAwait(false);
                }).ConfigureAwait(false);
        }
        while (!run.IsCompleted)
        {
            await Task.WhenAny(run, Task.Delay(5000)).ConfigureAwait(false);
            if (!run.IsCompleted)
            {
                var (done, fps) = (pipeline.Sinks.Out, Fps(pipeline));
                var eta = expectedFrames is { } total && fps > 0 ? $", about {(total - done) / fps:0}s left" : "";
                logger.LogInformation("{Title}: {Done}{Total} frames, {Fps:0.0} fps, {Dropped} dropped{Eta}",
                    title, done, expectedFrames is null ? "" : "/" + expectedFrames, fps, pipeline.Capture.Dropped, eta);
            }
        }
        return await run.ConfigureAwait(false);
    }

    private static double Fps(FramePipeline pipeline) =>
        pipeline.ElapsedSeconds > 0 ? pipeline.Sinks.Out / pipeline.ElapsedSeconds : 0;

    private static void Update(ProgressTask task, FramePipeline pipeline, string title, long? expectedFrames)
    {
        var done = pipeline.Sinks.Out;
        task.Value = expectedFrames is null ? 0 : Math.Min(done, expectedFrames.Value);
        task.Description = string.Create(CultureInfo.InvariantCulture,
            $"{Markup.Escape(title)} {done} frames, {Fps(pipeline):0.0} fps, {pipeline.Capture.Dropped} dropped");
    }
}

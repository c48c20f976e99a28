using Edge.Pipeline.Outputs;
using System.Diagnostics;
using System.Globalization;
using Edge.Capture;
using Edge.Training.Data;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary><c>edge data activity</c>: writes the activity clips (<see cref="ActivityClips"/>) and prints what it wrote.</summary>
public static class DataActivityCommand
{
    public static int Run(EdgeContext context, string video, string output, ActivityClips.Options options, CancellationToken ct)
    {
        if (!File.Exists(video))
        {
            throw new CaptureException(CaptureError.NotFound, $"video file not found: {video}");
        }
        var logger = context.CreateLogger("Edge.Data");
        try
        {
            Directory.CreateDirectory(output);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot write to output folder {output}: {ex.Message}", ex);
        }
        var clock = Stopwatch.StartNew();
        var lastReport = 0;
        var progress = new Immediate<(int Done, int Total)>(p =>
        {
            // Reported from the drawing threads: one log line per tenth of the clips.
            var tenth = p.Done * 10 / p.Total;
            if (Interlocked.Exchange(ref lastReport, tenth) != tenth)
            {
                logger.LogInformation("{Done}/{Total} clips written ({Seconds:0} s)", p.Done, p.Total, clock.Elapsed.TotalSeconds);
            }
        });
        var metadata = ActivityClips.Create(video, output, options, progress, ct);

        var c = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("class", "train clips", "test clips", "frames");
        foreach (var label in metadata.Labels)
        {
            var of = metadata.Clips.Where(k => k.Label == label).ToList();
            table.AddRow(label, of.Count(k => k.Split == "train").ToString(c), of.Count(k => k.Split == "test").ToString(c), of.Sum(k => k.Frames).ToString(c));
        }
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(string.Create(c,
            $"{metadata.Clips.Length} clips of {metadata.Frames} frames at {metadata.Width}x{metadata.Height}, {metadata.Fps} fps, seed {metadata.Seed}, in {clock.Elapsed.TotalSeconds:0.0} s: {Path.GetFullPath(output)}/{{train,test}}/<class>/*.avi and {ActivityClips.MetadataFile}"));
        return ExitCodes.Ok;
    }
}

using System.Text.Json;
using Edge.Models;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Host.Tests;

/// <summary>
/// <c>edge learn</c> on real footage, then the model served by <c>edge process</c> and judged by <c>edge eval
/// anomaly</c>: a square of paint that appears in one place of the street is flagged, located and made an event.
/// </summary>
public sealed class LearnCommandTests : IDisposable
{
    private static readonly Rect s_square = new(480, 300, 110, 110);
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task Learn_NormalStreet_FlagsAndLocatesAnObjectThatAppears()
    {
        var normal = Path.Combine(_work, "normal.avi");
        var test = Path.Combine(_work, "test.avi");
        WriteClip(normal, start: 0, frames: 240, paint: null);
        WriteClip(test, start: 300, frames: 70, paint: (30, 44));

        var learned = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", "models/street.onnx", .. EdgeProcess.ModelArgs]);
        Assert.True(learned.ExitCode == 0, learned.Stderr + learned.Stdout);
        Assert.Contains("240 normal frames", learned.Stdout, StringComparison.Ordinal);
        var manifest = ModelManifest.Load(Path.Combine(_work, "models", "street.json"));
        Assert.Equal(ModelManifest.GridAnomalyKind, manifest.Kind);
        Assert.Equal(["frame", "patch", "still", "motion", "pace", "repeat"], manifest.GridAnomaly!.Terms);
        Assert.Null(OnnxChecker.Check(Path.Combine(_work, "models", "street.onnx")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_work, "models"))); // the temporary recording is gone

        var processed = await EdgeProcess.RunAsync(_work, ["process", test, "--out", "out", "--anomaly-model", "models/street.onnx", "--no-objects", .. EdgeProcess.ModelArgs]);
        Assert.True(processed.ExitCode == 0, processed.Stderr);
        var frames = File.ReadLines(Path.Combine(_work, "out", "frames.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(70, frames.Count);
        double Score(int i) => frames[i].GetProperty("analysis").GetProperty("anomalyScore").GetDouble();
        // The clip's first frames are skipped: their motion is against the first frame, not a normal neighbour.
        var before = Enumerable.Range(3, 26).Select(Score).ToArray();
        var painted = Enumerable.Range(30, 15).Select(Score).ToArray();
        var all = string.Join(" ", Enumerable.Range(0, 70).Select(i => frames[i].GetProperty("analysis").GetProperty("anomalyScore").ValueKind == JsonValueKind.Number ? Score(i).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) : "-"));
        Assert.True(painted.Min() > before.Max(), $"painted frames min {painted.Min():F2}, normal frames max {before.Max():F2}: {all}");
        Assert.True(painted.Count(v => v >= 1.0) >= 11, $"{painted.Count(v => v >= 1.0)} of 15 painted frames at or above the threshold: {all}");
        // Where: the region (the hottest place) of most flagged painted frames is the square; a passer-by new to the
        // model may be hotter in a few.
        var flagged = Enumerable.Range(30, 15).Where(i => Score(i) >= 1.0).ToList();
        var located = flagged.Count(i => frames[i].GetProperty("analysis").GetProperty("anomalyRegion") is { ValueKind: JsonValueKind.Array } region
            && (Rect.FromLTRB(region[0].GetInt32(), region[1].GetInt32(), region[2].GetInt32(), region[3].GetInt32()) & s_square).Width > 0);
        Assert.True(located >= flagged.Count * 2 / 3, $"{located} of {flagged.Count} flagged painted frames have their region on the square");

        var events = File.ReadLines(Path.Combine(_work, "out", "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var anomaly = Assert.Single(events, e => e.GetProperty("startFrame").GetInt64() <= 44 && e.GetProperty("endFrame").GetInt64() >= 30);
        var eventRegion = anomaly.GetProperty("region");
        Assert.True((Rect.FromLTRB(eventRegion[0].GetInt32(), eventRegion[1].GetInt32(), eventRegion[2].GetInt32(), eventRegion[3].GetInt32()) & s_square).Width > 0);
        // The snapshot is the peak frame with the heatmap drawn where the square is, and the rest of the picture as it was.
        using (var snapshot = Cv2.ImRead(Path.Combine(_work, "out", anomaly.GetProperty("snapshot").GetString()!)))
        using (var clip = new VideoCapture(test))
        using (var peak = new Mat())
        using (var difference = new Mat())
        {
            Assert.Equal(new OpenCvSharp.Size(768, 576), snapshot.Size());
            clip.Set(VideoCaptureProperties.PosFrames, anomaly.GetProperty("peakFrame").GetInt32());
            Assert.True(clip.Read(peak));
            Cv2.Absdiff(snapshot, peak, difference);
            var atSquare = MeanOver(difference, s_square);
            var atCorner = MeanOver(difference, new Rect(0, 476, 100, 100));
            Assert.True(atSquare > 30 && atCorner < 15, $"heatmap difference at the square {atSquare:F1}, in a corner {atCorner:F1}");
        }

        // Every second frame (a stride, or a stream dropping frames): the motion terms are read against the learned
        // change at that gap, so normal frames score as they do at stride 1. The same model with the gap input left
        // interval out of its manifest (footage recorded without timestamps) reads each pair as neighbours: faster
        // motion, higher.
        var halfRate = await StrideTwoScores("models/street.onnx", "out-stride2");
        var json = File.ReadAllText(Path.Combine(_work, "models", "street.json"));
        Assert.Contains("\"frameIntervalMs\": 100", json, StringComparison.Ordinal);
        File.Copy(Path.Combine(_work, "models", "street.onnx"), Path.Combine(_work, "models", "gapless.onnx"));
        File.WriteAllText(Path.Combine(_work, "models", "gapless.json"), json.Replace("\"frameIntervalMs\": 100", "\"frameIntervalMs\": null", StringComparison.Ordinal));
        var readAsNeighbours = await StrideTwoScores("models/gapless.onnx", "out-gapless");
        // A manifest edited so that its calibration cannot scale a score (threshold at or below the normal mean) is refused.
        File.Copy(Path.Combine(_work, "models", "street.onnx"), Path.Combine(_work, "models", "uncalibrated.onnx"));
        File.WriteAllText(Path.Combine(_work, "models", "uncalibrated.json"),
            System.Text.RegularExpressions.Regex.Replace(json, "\"threshold\": [0-9.eE+-]+", "\"threshold\": 0"));
        var uncalibrated = await EdgeProcess.RunAsync(_work, ["process", test, "--out", "out-uncalibrated", "--anomaly-model", "models/uncalibrated.onnx", "--no-objects", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.ModelInvalid, uncalibrated.ExitCode);
        Assert.Contains("threshold 0 must be above the normal mean", uncalibrated.Stderr, StringComparison.Ordinal);
        // One edited to score every other frame: the model scores every frame (its gaps and repeat term count on it).
        Assert.Contains("\"windowStride\": 1,", json, StringComparison.Ordinal);
        File.Copy(Path.Combine(_work, "models", "street.onnx"), Path.Combine(_work, "models", "strided.onnx"));
        File.WriteAllText(Path.Combine(_work, "models", "strided.json"), json.Replace("\"windowStride\": 1,", "\"windowStride\": 0,", StringComparison.Ordinal));
        var strided = await EdgeProcess.RunAsync(_work, ["process", test, "--out", "out-strided", "--anomaly-model", "models/strided.onnx", "--no-objects", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.ModelInvalid, strided.ExitCode);
        Assert.Contains("windowStride is 0 in its manifest; a grid anomaly model scores every frame", strided.Stderr, StringComparison.Ordinal);
        var normalAtOne = before.Average();
        Assert.True(halfRate.Normal.Average() < normalAtOne + 0.3 && readAsNeighbours.Normal.Average() > halfRate.Normal.Average() + 0.3,
            $"normal frames' mean score: stride 1 {normalAtOne:F2}, stride 2 {halfRate.Normal.Average():F2}, stride 2 read as neighbours {readAsNeighbours.Normal.Average():F2}");
        Assert.True(halfRate.Painted.Min() > halfRate.Normal.Max(), $"stride 2: painted min {halfRate.Painted.Min():F2}, normal max {halfRate.Normal.Max():F2}");

        // Speed-up: the street with 14 frames played three times as fast. Nothing new is in the picture and the CNN's
        // cells change about as much as on a busier moment; the pace term reads it from the cells' optical flow (the
        // same model without it scored these frames 0.4 to 0.8, no event).
        var fast = Path.Combine(_work, "fast.avi");
        WriteClip(fast, start: 300, frames: 70, paint: null, fast: (30, 44, 3));
        var hurried = await EdgeProcess.RunAsync(_work, ["process", fast, "--out", "out-fast", "--anomaly-model", "models/street.onnx", "--no-objects", .. EdgeProcess.ModelArgs]);
        Assert.True(hurried.ExitCode == 0, hurried.Stderr);
        var paced = File.ReadLines(Path.Combine(_work, "out-fast", "frames.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(f => f.GetProperty("analysis").GetProperty("anomalyScore").ValueKind == JsonValueKind.Number)
            .Select(f => (Index: f.GetProperty("index").GetInt64(), Score: f.GetProperty("analysis").GetProperty("anomalyScore").GetDouble())).ToList();
        var hurriedScores = paced.Where(f => f.Index is > 30 and <= 44).Select(f => f.Score).ToArray();
        var calm = paced.Where(f => f.Index is >= 3 and < 30 or > 46).Select(f => f.Score).ToArray();
        var pacedAll = string.Join(" ", paced.Select(f => f.Score.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(calm.Max() < 1.0 && hurriedScores.Count(v => v >= 1.0) >= 5, $"fast frames 31-44 at or above 1.0: {hurriedScores.Count(v => v >= 1.0)}: {pacedAll}");
        var fastEvents = File.ReadLines(Path.Combine(_work, "out-fast", "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("kind").GetString() == "anomaly").ToList();
        var hurry = Assert.Single(fastEvents);
        Assert.True(hurry.GetProperty("startFrame").GetInt64() <= 44 && hurry.GetProperty("endFrame").GetInt64() >= 31, hurry.ToString());

        File.WriteAllText(Path.Combine(_work, "test.gt.json"),
            """{ "video": "test.avi", "frames": 70, "fps": 10, "anomalies": [ { "kind": "foreign-object", "startFrame": 30, "endFrame": 44 } ] }""");
        var evaluated = await EdgeProcess.RunAsync(_work, ["eval", "anomaly", test, "--anomaly-model", "models/street.onnx", "--normal", normal, "--out", "eval", .. EdgeProcess.ModelArgs]);
        Assert.True(evaluated.ExitCode == 0, evaluated.Stderr);
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval", "eval-anomaly.json"))).RootElement.GetProperty("results");
        var methods = results.EnumerateArray().ToDictionary(r => r.GetProperty("Method").GetString()!, r => r);
        Assert.Equal(["learned", "frame difference", "nearest normal frame"], methods.Keys);
        Assert.True(methods["learned"].GetProperty("FrameAuc").GetDouble() > 0.95, methods["learned"].ToString());
        Assert.Equal(1.0, methods["learned"].GetProperty("Recall").GetDouble());
        // False alarms per hour: the events on no injection over the 55 normal frames (5.5 s at 10 fps) of the test clip.
        var learnedResult = methods["learned"];
        var falseEvents = Math.Round(learnedResult.GetProperty("Events").GetInt32() * (1 - learnedResult.GetProperty("Precision").GetDouble()));
        Assert.Equal(falseEvents * 3600 / 5.5, learnedResult.GetProperty("FalseAlarmsPerHour").GetDouble(), 1e-6);
        Assert.True(File.Exists(Path.Combine(_work, "eval", "timeline.png")));

        // The event's clip: half-size JPEG frames around it, readable by OpenCV, pre-roll included.
        using (var clip = new VideoCapture(Path.Combine(_work, "out", anomaly.GetProperty("clip").GetString()!)))
        using (var frame = new Mat())
        {
            var clipFrames = 0;
            while (clip.Read(frame))
            {
                Assert.Equal(new OpenCvSharp.Size(384, 288), frame.Size());
                clipFrames++;
            }
            Assert.True(clipFrames > 20, $"{clipFrames} frames in the clip");
        }

        // edge bench times the sinks with this model's events, against the CNN, in the same run.
        var bench = await EdgeProcess.RunAsync(_work, ["bench", test, "--frames", "70", "--anomaly-model", "models/street.onnx", "--json", "bench.json", .. EdgeProcess.ModelArgs]);
        Assert.True(bench.ExitCode == 0, bench.Stderr);
        Assert.Contains("sinks time per frame / CNN time per frame = ", bench.Stdout, StringComparison.Ordinal);
        var root = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "bench.json"))).RootElement;
        var timed = root.GetProperty("events");
        Assert.True(timed.GetProperty("Events").GetInt64() >= 1, timed.ToString());
        Assert.InRange(timed.GetProperty("SinksP50Ms").GetDouble(), 0.0001, timed.GetProperty("SinksP99Ms").GetDouble());
        Assert.Equal(timed.GetProperty("SinksP50Ms").GetDouble() / timed.GetProperty("CnnMsPerFrame").GetDouble(), timed.GetProperty("SinksShare").GetDouble(), 1e-9);
        // The temporal stage's share in CPU time as well as in wall time, both sides measured in the same run.
        var temporalCpu = root.GetProperty("TemporalCpuMsPerFrame").GetDouble();
        var cnnCpu = root.GetProperty("InferenceCpuMsPerFrame").GetDouble();
        Assert.True(temporalCpu > 0 && cnnCpu > temporalCpu, root.ToString());
        Assert.Equal(temporalCpu / cnnCpu, root.GetProperty("TemporalCpuShare").GetDouble(), 1e-9);
        Assert.Contains("temporal stage CPU time per frame / CNN CPU time per frame = ", bench.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Scores of the test clip's normal (frames 4–28) and painted (30–44) frames processed at stride 2.</summary>
    private async Task<(double[] Normal, double[] Painted)> StrideTwoScores(string model, string output)
    {
        var run = await EdgeProcess.RunAsync(_work, ["process", Path.Combine(_work, "test.avi"), "--stride", "2", "--out", output, "--anomaly-model", model, "--no-objects", .. EdgeProcess.ModelArgs]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var scored = File.ReadLines(Path.Combine(_work, output, "frames.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(f => f.GetProperty("analysis").GetProperty("anomalyScore").ValueKind == JsonValueKind.Number)
            .Select(f => (Index: f.GetProperty("index").GetInt64(), Score: f.GetProperty("analysis").GetProperty("anomalyScore").GetDouble())).ToList();
        return ([.. scored.Where(f => f.Index is >= 4 and < 30).Select(f => f.Score)], [.. scored.Where(f => f.Index is >= 30 and <= 44).Select(f => f.Score)]);
    }

    [Fact]
    public async Task Learn_TheWholeScene_ItsCutAndTheLullAfterItAreNotAnomalies()
    {
        // vtest.avi has a cut at frame 404 (a walker near the camera vanishes), and for the 9 frames after it only
        // distant walkers move: the fastest cells change a quarter to a half as much as usual. A model that learned the
        // whole file must raise no anomaly for it: a lull in a scene's activity is normal, and so is its replay. The
        // cut frame itself is a jump (the pace term reads the vanishing walker's flow as a leap) and may score above
        // 1.0; one frame is shorter than an event (Events:MinDurationMs), and every other frame stays below.
        var learned = await EdgeProcess.RunAsync(_work, ["learn", TestData.Vtest, "--out", "models/vtest.onnx", .. EdgeProcess.ModelArgs]);
        Assert.True(learned.ExitCode == 0, learned.Stderr + learned.Stdout);
        var clip = Path.Combine(_work, "cut.avi");
        WriteClip(clip, start: 380, frames: 60, paint: null);

        var processed = await EdgeProcess.RunAsync(_work, ["process", clip, "--out", "out", "--anomaly-model", "models/vtest.onnx", "--no-objects", .. EdgeProcess.ModelArgs]);

        Assert.True(processed.ExitCode == 0, processed.Stderr);
        var scored = File.ReadLines(Path.Combine(_work, "out", "frames.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(f => f.GetProperty("analysis").GetProperty("anomalyScore").ValueKind == JsonValueKind.Number)
            .Select(f => (Index: f.GetProperty("index").GetInt64(), Score: f.GetProperty("analysis").GetProperty("anomalyScore").GetDouble())).ToList();
        Assert.True(scored.Count >= 55, $"{scored.Count} scored frames");
        var all = string.Join(" ", scored.Select(f => f.Score.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)));
        // The clip's frame 24 is vtest's 404, the cut.
        Assert.True(scored.Where(f => f.Index != 24).Max(f => f.Score) < 1.0, $"frames of the learned scene other than the cut at or above 1.0: {all}");
        var events = File.ReadLines(Path.Combine(_work, "out", "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement);
        Assert.DoesNotContain(events, e => e.GetProperty("kind").GetString() == "anomaly");
    }

    [Fact]
    public async Task Learn_TooShortOrMissing_OneErrorLineAndNoModel()
    {
        var shortClip = Path.Combine(_work, "short.avi");
        WriteClip(shortClip, start: 0, frames: 60, paint: null);
        var tooShort = await EdgeProcess.RunAsync(_work, ["learn", shortClip, "--out", "models/short.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.TrainingDataUnusable, tooShort.ExitCode);
        Assert.Contains("normal footage too short: 60 frames", tooShort.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", tooShort.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_work, "models", "short.onnx")));
        Assert.Empty(Directory.Exists(Path.Combine(_work, "models")) ? Directory.GetFileSystemEntries(Path.Combine(_work, "models")) : []);

        var missing = await EdgeProcess.RunAsync(_work, ["learn", "nowhere.avi", "--out", "models/x.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.InputNotFound, missing.ExitCode);
        Assert.Contains("nowhere.avi", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Learn_OutputOrOptionsWrong_RefusedBeforeAnyFootageIsReadAndNothingIsLeft()
    {
        var normal = Path.Combine(_work, "normal.avi");
        WriteClip(normal, start: 0, frames: 20, paint: null);
        var before = File.ReadAllBytes(normal);

        // --out naming the footage itself, or no .onnx: refused, the video untouched.
        var overInput = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", normal, .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.OutputNotWritable, overInput.ExitCode);
        Assert.Equal(before, File.ReadAllBytes(normal));
        Assert.False(File.Exists(Path.Combine(_work, "normal.json")));
        var noExtension = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", "models/m", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.OutputNotWritable, noExtension.ExitCode);
        Assert.Contains("ends in .onnx", noExtension.Stderr, StringComparison.Ordinal);

        // --out naming another model, or a file its manifest would replace (the configuration): refused, both untouched.
        // Only an anomaly model learned before may be replaced.
        Directory.CreateDirectory(Path.Combine(_work, "models"));
        var frameModel = Path.Combine(_work, "models", "frame.onnx");
        File.Copy(TestData.FrameModel, frameModel);
        File.Copy(ModelManifest.PathFor(TestData.FrameModel), ModelManifest.PathFor(frameModel));
        var overModel = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", "models/frame.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.OutputNotWritable, overModel.ExitCode);
        Assert.Contains("it would replace a frame-embedding model", overModel.Stderr, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(TestData.FrameModel), File.ReadAllBytes(frameModel));
        Assert.Equal(File.ReadAllText(ModelManifest.PathFor(TestData.FrameModel)), File.ReadAllText(ModelManifest.PathFor(frameModel)));
        File.WriteAllText(Path.Combine(_work, "edge.json"), "{ \"Capture\": {} }");
        var overConfig = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", "edge.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.OutputNotWritable, overConfig.ExitCode);
        Assert.Contains("its manifest would replace", overConfig.Stderr, StringComparison.Ordinal);
        Assert.Equal("{ \"Capture\": {} }", File.ReadAllText(Path.Combine(_work, "edge.json")));
        Assert.False(File.Exists(Path.Combine(_work, "edge.onnx")));
        File.Delete(Path.Combine(_work, "edge.json"));
        File.Delete(frameModel);
        File.Delete(ModelManifest.PathFor(frameModel));

        // A folder where the model or its manifest would go: found before learning, no temporary file left.
        Directory.CreateDirectory(Path.Combine(_work, "models", "folder.onnx"));
        Directory.CreateDirectory(Path.Combine(_work, "models", "pair.json"));
        var folder = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", "models/folder.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.OutputNotWritable, folder.ExitCode);
        Assert.Contains("is a folder", folder.Stderr, StringComparison.Ordinal);
        var manifest = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", "models/pair.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.OutputNotWritable, manifest.ExitCode);
        Assert.Contains("pair.json is a folder", manifest.Stderr, StringComparison.Ordinal);
        Assert.Equal(["folder.onnx", "pair.json"], Directory.GetFileSystemEntries(Path.Combine(_work, "models")).Select(Path.GetFileName).Order());

        // A mistyped option is an unknown option, not a video; a rate that is not a number is a usage error, no trace.
        var typo = await EdgeProcess.RunAsync(_work, ["learn", normal, "--otu", "x.onnx", "--out", "models/y.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.Usage, typo.ExitCode);
        Assert.Contains("unrecognized option --otu", typo.Stderr, StringComparison.Ordinal);
        var rate = await EdgeProcess.RunAsync(_work, ["learn", normal, "--out", "models/y.onnx", "--max-false-alarm-rate", "abc", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.Usage, rate.ExitCode);
        Assert.Contains("--max-false-alarm-rate", rate.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", rate.Stderr, StringComparison.Ordinal);

        // A damaged video fails while recording: the temporary recording beside the model is removed too.
        var broken = Path.Combine(_work, "broken.avi");
        File.WriteAllBytes(broken, before.AsSpan(0, before.Length / 3).ToArray());
        Directory.CreateDirectory(Path.Combine(_work, "broken"));
        var damaged = await EdgeProcess.RunAsync(_work, ["learn", broken, "--out", "broken/b.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.InputTruncated, damaged.ExitCode);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_work, "broken")));

        // A model named on the command line that is not there is an error, not a run without it.
        var absent = await EdgeProcess.RunAsync(_work, ["process", normal, "--out", "out-absent", "--anomaly-model", "models/absent.onnx", "--no-objects", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.ModelNotFound, absent.ExitCode);
        Assert.Contains("absent.onnx", absent.Stderr, StringComparison.Ordinal);

        // Ground truth that is not JSON, or whose injection lies outside the video: refused before anything is scored.
        File.WriteAllText(Path.Combine(_work, "cut.gt.json"), "{\"video\": \"normal.avi\", \"frames\": 20, \"anoma");
        File.WriteAllText(Path.Combine(_work, "past.gt.json"),
            "{\"video\": \"normal.avi\", \"frames\": 20, \"fps\": 10, \"anomalies\": [{\"kind\": \"splice\", \"startFrame\": 5, \"endFrame\": 90}]}");
        foreach (var (truth, says) in new[] { ("cut.gt.json", "is not valid"), ("past.gt.json", "spans frames 5–90, not within 0–19") })
        {
            var eval = await EdgeProcess.RunAsync(_work, ["eval", "anomaly", normal, "--gt", truth, "--anomaly-model", "models/absent.onnx", "--out", "eval-bad", .. EdgeProcess.ModelArgs]);
            Assert.Equal(ExitCodes.TrainingDataUnusable, eval.ExitCode);
            Assert.Contains(says, eval.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", eval.Stderr, StringComparison.Ordinal);
        }
    }

    /// <summary>The mean over a rectangle of the three channels summed.</summary>
    private static double MeanOver(Mat image, Rect rect)
    {
        using var part = new Mat(image, rect);
        var mean = Cv2.Mean(part);
        return mean.Val0 + mean.Val1 + mean.Val2;
    }

    /// <summary>Frames of vtest.avi from <paramref name="start"/>; frames in <paramref name="paint"/> get a magenta square.</summary>
    /// <summary>
    /// <paramref name="frames"/> frames of vtest.avi from <paramref name="start"/>, at 10 fps; the square painted on the
    /// clip's frames <paramref name="paint"/>, and the clip's frames <paramref name="fast"/> played <c>Step</c> times as
    /// fast (every Step-th frame of the footage: walkers hurry).
    /// </summary>
    private static void WriteClip(string path, int start, int frames, (int From, int To)? paint, (int From, int To, int Step)? fast = null)
    {
        using var vtest = new VideoCapture(TestData.Vtest);
        vtest.Set(VideoCaptureProperties.PosFrames, start);
        using var writer = new VideoWriter(path, FourCC.MJPG, 10, new OpenCvSharp.Size(768, 576));
        using var frame = new Mat();
        for (var i = 0; i < frames; i++)
        {
            var skip = fast is { } f && i > f.From && i <= f.To ? f.Step - 1 : 0;
            for (var s = 0; s < skip; s++)
            {
                Assert.True(vtest.Grab());
            }
            Assert.True(vtest.Read(frame));
            if (paint is { } p && i >= p.From && i <= p.To)
            {
                Cv2.Rectangle(frame, s_square, new Scalar(255, 0, 255), -1);
            }
            writer.Write(frame);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

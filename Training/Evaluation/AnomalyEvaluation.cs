using Edge.Models;
using Edge.Models.GridAnomaly;
using Edge.Training.Data;

namespace Edge.Training.Evaluation;

/// <summary>
/// Evaluates anomaly scores against the injected suite's ground truth (<see cref="AnomalyInjector.CreateSuite"/>):
/// frame ROC AUC overall and per kind (each kind's frames against every normal frame of the same videos), per kind
/// in context (each injection's frames against the normal frames around it, see <see cref="ContextSeconds"/>), per family, cell-level localisation AUC for kinds with injected boxes, event precision and recall with the
/// caller's event rules, the share of normal frames inside events (an event that overlaps an injection is right, so
/// one long event over a whole video would find everything: this says how much normal footage the events cover),
/// false-alarm events per hour on held-out normal footage, and the nearest-normal-frame
/// reference (each frame's pooled embedding's distance to its nearest training frame) beside every number.
/// Works on features already extracted (embeddings and grids per frame), so one extraction serves many models.
/// </summary>
public static class AnomalyEvaluation
{
    /// <summary>A test video's per-frame features and ground truth. Grids may be null for embedding-only methods.</summary>
    public sealed record Video(string Name, float[] Embeddings, float[]? Grids, int Frames, AnomalyInjector.GroundTruth Truth);

    /// <summary>Per-frame scores of one video (NaN where unscored) and, if the method localises, its cell maps [frames][H·W].</summary>
    public sealed record VideoScores(double[] Scores, float[][]? Cells);

    /// <summary>Turns one video's calibrated scores into events (start and end frame, inclusive); the caller's event rules.</summary>
    public delegate IReadOnlyList<(long StartFrame, long EndFrame)> EventSegmenter(double[] scores, double fps);

    /// <param name="ContextAuc">
    /// The mean over the kind's injections of its frames' AUC against the normal frames within
    /// <see cref="ContextSeconds"/> of it in the same video (NaN when no injection has both): whether the score sees the
    /// anomaly itself rather than the stretch of footage it was put into. <see cref="Auc"/> ranks the kind against every
    /// normal frame, so a kind injected where normal footage scores high anyway (a busier part of the scene) gains from
    /// the footage, and one injected in a quiet part loses to the busy part.
    /// </param>
    public sealed record KindResult(string Kind, string Family, double Auc, int Injections, int Frames, double ContextAuc);

    /// <summary>How far around an injection its context reaches, before its first frame and after its last.</summary>
    public const double ContextSeconds = 4;

    /// <param name="MeanContextAuc">The mean over kinds of <see cref="KindResult.ContextAuc"/>.</param>
    public sealed record MethodReport(string Method, double FrameAuc, double MeanKindAuc, double MinKindAuc, double MeanContextAuc, KindResult[] Kinds,
        Dictionary<string, double> FamilyAuc, double? LocalisationAuc, int Events, double EventPrecision, double EventRecall,
        double? FalseAlarmsPerHour, double NormalInEvents);

    /// <summary>
    /// Scores every frame of a video with a window model, as the temporal stage does: frame t is the newest frame of
    /// the window ending at t (frames before the first whole window are unscored, NaN); a model that reads grids gets
    /// each frame's embedding followed by its grid.
    /// </summary>
    public static VideoScores ScoreWithModel(IWindowModel model, Video video, int batch = 32)
    {
        var frames = model.InputFrames;
        var size = model.FeatureSize;
        var e = video.Embeddings.Length / video.Frames;
        var g = model.ReadsGrid ? (video.Grids ?? throw new ArgumentException($"{video.Name} has no grids")).Length / video.Frames : 0;
        var calibration = model.Manifest.Anomaly!;
        var scores = Enumerable.Repeat(double.NaN, video.Frames).ToArray();
        var cellCount = model.CellGrid is { } cg ? cg.Height * cg.Width : 0;
        var cells = cellCount > 0 ? new float[video.Frames][] : null;
        var ends = Enumerable.Range(frames - 1, Math.Max(0, video.Frames - frames + 1)).ToArray();
        foreach (var chunk in ends.Chunk(batch))
        {
            var windows = new float[chunk.Length * frames * size];
            for (var i = 0; i < chunk.Length; i++)
            {
                for (var f = 0; f < frames; f++)
                {
                    var t = chunk[i] - frames + 1 + f;
                    var at = windows.AsSpan((i * frames + f) * size, size);
                    video.Embeddings.AsSpan(t * e, e).CopyTo(at);
                    if (g > 0)
                    {
                        video.Grids!.AsSpan(t * g, g).CopyTo(at[e..]);
                    }
                }
            }
            var result = model.RunWithCellsAsync(windows, chunk.Length, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            for (var i = 0; i < chunk.Length; i++)
            {
                scores[chunk[i]] = calibration.Relative(result.Scores[i]);
                if (cells is not null)
                {
                    cells[chunk[i]] = result.Cells.AsSpan(i * cellCount, cellCount).ToArray();
                }
            }
        }
        if (cells is not null)
        {
            for (var t = 0; t < frames - 1 && t < cells.Length; t++)
            {
                cells[t] = new float[cellCount];
            }
        }
        return new VideoScores(scores, cells);
    }

    /// <summary>
    /// The no-learning reference: each frame's distance to the nearest training frame's pooled embedding, scaled so
    /// that 1.0 is the p99 of the same distance for held-out training frames (every 5th block of 40, against the rest).
    /// </summary>
    public static Func<Video, VideoScores> NearestNormalFrame(float[] trainEmbeddings, int embeddingSize)
    {
        var rows = trainEmbeddings.Length / embeddingSize;
        var heldOut = Enumerable.Range(0, rows).Where(r => r / 40 % 5 == 4).ToArray();
        var kept = Enumerable.Range(0, rows).Where(r => r / 40 % 5 != 4).ToArray();
        double Nearest(ReadOnlySpan<float> x, int[] among)
        {
            var best = double.MaxValue;
            foreach (var r in among)
            {
                var row = trainEmbeddings.AsSpan(r * embeddingSize, embeddingSize);
                double sum = 0;
                for (var j = 0; j < embeddingSize; j++)
                {
                    var v = x[j] - row[j];
                    sum += v * v;
                }
                best = Math.Min(best, sum);
            }
            return Math.Sqrt(best);
        }
        var normal = heldOut.Select(r => Nearest(trainEmbeddings.AsSpan(r * embeddingSize, embeddingSize), kept)).ToArray();
        var mean = normal.Length == 0 ? 0 : normal.Average();
        var p99 = Statistics.PercentileOf(normal, 0.99);
        var all = Enumerable.Range(0, rows).ToArray();
        return video => new VideoScores(
            [.. Enumerable.Range(0, video.Frames).Select(t => (Nearest(video.Embeddings.AsSpan(t * embeddingSize, embeddingSize), all) - mean) / Math.Max(p99 - mean, 1e-9))],
            null);
    }

    /// <summary>
    /// Everything for one method over the test videos. <paramref name="kinds"/> limits the kinds counted (others'
    /// frames are left out, neither positive nor negative); <paramref name="normal"/> are held-out normal videos for
    /// false alarms per hour (their scores with the same method); without them, false alarms per hour are the events
    /// that overlap no injection over the test videos' normal frames (held-out normal footage too); <paramref name="grid"/> and the frame size map
    /// injected boxes to cells for localisation.
    /// </summary>
    public static MethodReport Evaluate(string method, IReadOnlyList<Video> videos, IReadOnlyList<VideoScores> scores, EventSegmenter events,
        IReadOnlySet<string>? kinds = null, IReadOnlyList<(Video Video, VideoScores Scores)>? normal = null,
        (int Height, int Width, int FrameWidth, int FrameHeight)? grid = null)
    {
        var pooled = new List<(double Score, string? Kind)>();
        var context = new Dictionary<string, List<double>>();
        var localScores = new List<double>();
        var localLabels = new List<bool>();
        int truePositiveEvents = 0, allEvents = 0, found = 0, injections = 0, normalFrames = 0, normalFramesInEvents = 0;
        double normalSeconds = 0;
        for (var v = 0; v < videos.Count; v++)
        {
            var truth = videos[v].Truth;
            var s = scores[v].Scores;
            var excluded = new bool[s.Length];
            foreach (var a in truth.Anomalies.Where(a => kinds is not null && !kinds.Contains(a.Kind)))
            {
                for (var t = a.StartFrame; t <= a.EndFrame && t < s.Length; t++)
                {
                    excluded[t] = true;
                }
            }
            for (var t = 0; t < s.Length; t++)
            {
                if (!double.IsNaN(s[t]) && !excluded[t])
                {
                    pooled.Add((s[t], truth.At(t)?.Kind));
                }
            }
            normalSeconds += Enumerable.Range(0, s.Length).Count(t => !excluded[t] && truth.At(t) is null) / truth.Fps;
            var counted = truth.Anomalies.Where(a => kinds is null || kinds.Contains(a.Kind)).ToArray();
            var found_ = events(s, truth.Fps);
            foreach (var e in found_)
            {
                // An event that overlaps only excluded kinds is neither right nor wrong.
                if (truth.Anomalies.Any(a => Overlaps(e, a) && !counted.Contains(a)) && !counted.Any(a => Overlaps(e, a)))
                {
                    continue;
                }
                allEvents++;
                truePositiveEvents += counted.Any(a => Overlaps(e, a)) ? 1 : 0;
            }
            found += counted.Count(a => found_.Any(e => Overlaps(e, a)));
            for (var t = 0; t < s.Length; t++)
            {
                if (!excluded[t] && truth.At(t) is null)
                {
                    normalFrames++;
                    normalFramesInEvents += found_.Any(e => t >= e.StartFrame && t <= e.EndFrame) ? 1 : 0;
                }
            }
            injections += counted.Length;
            var reach = (int)Math.Round(ContextSeconds * truth.Fps);
            foreach (var a in counted)
            {
                var (from, to) = (Math.Max(0, a.StartFrame - reach), Math.Min(s.Length - 1, a.EndFrame + reach));
                var around = Enumerable.Range(from, to - from + 1)
                    .Where(t => !double.IsNaN(s[t]) && !excluded[t] && (truth.At(t) is null || (t >= a.StartFrame && t <= a.EndFrame)))
                    .ToArray();
                var inside = around.Select(t => t >= a.StartFrame && t <= a.EndFrame).ToArray();
                if (inside.Contains(true) && inside.Contains(false))
                {
                    if (!context.TryGetValue(a.Kind, out var aucs))
                    {
                        context[a.Kind] = aucs = [];
                    }
                    aucs.Add(Metrics.Roc([.. around.Select(t => s[t])], inside).Auc);
                }
            }
            if (grid is { } g && scores[v].Cells is { } cells)
            {
                foreach (var a in counted.Where(a => a.Regions is { Length: > 0 }))
                {
                    foreach (var region in a.Regions!)
                    {
                        if (region.Frame >= cells.Length || double.IsNaN(s[region.Frame]))
                        {
                            continue;
                        }
                        var map = cells[region.Frame];
                        for (var r = 0; r < g.Height; r++)
                        {
                            for (var c = 0; c < g.Width; c++)
                            {
                                var box = AnomalyMap.CellBox(r, c, g.Height, g.Width, g.FrameWidth, g.FrameHeight);
                                var inside = (box & region.ToRect()).Width * (box & region.ToRect()).Height;
                                // A cell counts as anomalous when the injected box covers a quarter of it or more.
                                localLabels.Add(inside * 4 >= box.Width * box.Height);
                                localScores.Add(map[r * g.Width + c]);
                            }
                        }
                    }
                }
            }
        }
        var labels = pooled.Select(p => p.Kind is not null).ToArray();
        var frameAuc = Metrics.Roc([.. pooled.Select(p => p.Score)], labels).Auc;
        var kindResults = new List<KindResult>();
        foreach (var kind in pooled.Where(p => p.Kind is not null).Select(p => p.Kind!).Distinct().Order())
        {
            var subset = pooled.Where(p => p.Kind is null || p.Kind == kind).ToArray();
            var auc = Metrics.Roc([.. subset.Select(p => p.Score)], [.. subset.Select(p => p.Kind is not null)]).Auc;
            var count = videos.Sum(v => v.Truth.Anomalies.Count(a => a.Kind == kind));
            kindResults.Add(new KindResult(kind, FamilyOrNone(kind), auc, count, subset.Count(p => p.Kind is not null),
                context.TryGetValue(kind, out var aucs) ? aucs.Average() : double.NaN));
        }
        var families = kindResults.GroupBy(k => k.Family).ToDictionary(g => g.Key, g => g.Average(k => k.Auc));
        double? localisation = localLabels.Contains(true) && localLabels.Contains(false)
            ? Metrics.Roc(localScores, localLabels).Auc : null;
        double? falseAlarms = normalSeconds > 0 ? (allEvents - truePositiveEvents) / (normalSeconds / 3600) : null;
        if (normal is { Count: > 0 })
        {
            var hours = normal.Sum(n => n.Video.Frames / n.Video.Truth.Fps) / 3600;
            falseAlarms = normal.Sum(n => events(n.Scores.Scores, n.Video.Truth.Fps).Count) / hours;
        }
        return new MethodReport(method, frameAuc, kindResults.Count == 0 ? double.NaN : kindResults.Average(k => k.Auc),
            kindResults.Count == 0 ? double.NaN : kindResults.Min(k => k.Auc),
            kindResults.Where(k => !double.IsNaN(k.ContextAuc)).Select(k => k.ContextAuc).DefaultIfEmpty(double.NaN).Average(), [.. kindResults], families, localisation,
            allEvents, allEvents == 0 ? 0 : truePositiveEvents / (double)allEvents, injections == 0 ? 0 : found / (double)injections, falseAlarms,
            normalFrames == 0 ? 0 : normalFramesInEvents / (double)normalFrames);
    }

    /// <summary>
    /// Leave-one-family-out: for each family, the candidate whose mean kind AUC over the other families' kinds is
    /// highest is chosen, and its mean kind AUC on the held-out family is reported. <paramref name="results"/> holds
    /// each candidate's report over the tuning videos.
    /// </summary>
    public static IReadOnlyList<(string Family, string Chosen, double ChosenOnOthers, double HeldOutAuc)> LeaveOneFamilyOut(IReadOnlyList<MethodReport> results)
    {
        var families = results.SelectMany(r => r.Kinds.Select(k => k.Family)).Distinct().Order().ToArray();
        var outcome = new List<(string, string, double, double)>();
        foreach (var family in families)
        {
            var best = results.Select(r => (Report: r, Others: r.Kinds.Where(k => k.Family != family).Select(k => k.Auc).DefaultIfEmpty(0).Average()))
                .OrderByDescending(x => x.Others).First();
            outcome.Add((family, best.Report.Method, best.Others, best.Report.Kinds.Where(k => k.Family == family).Select(k => k.Auc).DefaultIfEmpty(double.NaN).Average()));
        }
        return outcome;
    }

    private static bool Overlaps((long StartFrame, long EndFrame) e, AnomalyInjector.Injection a) => e.StartFrame <= a.EndFrame && e.EndFrame >= a.StartFrame;

    private static string FamilyOrNone(string kind) => AnomalyInjector.SuiteKinds.Any(k => k.Kind == kind) ? AnomalyInjector.FamilyOf(kind) : "other";
}

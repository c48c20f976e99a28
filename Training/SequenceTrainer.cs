using System.Diagnostics;
using Edge.Models;
using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>
/// Trains <see cref="SequenceNetwork"/> on windows of per-frame embeddings. Features are standardised per dimension
/// with statistics of the training data (the exported graph does the same). Activity: each window of T frames gets
/// its clip's label (cross-entropy). Anomaly: from normal footage only, the network reads T frames and predicts the
/// next one (mean squared error) from unit-length embeddings; the last part of each sequence is held out to calibrate
/// the scores (<see cref="AnomalyScore"/>).
/// </summary>
public sealed class SequenceTrainer
{
    private readonly TrainOptions _options;

    public SequenceTrainer(TrainOptions options) => _options = options;

    /// <summary>The embeddings of one clip or recording, rows back to back; Label is the class (activity) or -1.</summary>
    public sealed record Sequence(string Name, float[] Values, int Rows, int Label);

    /// <param name="Motion">Activity: the network reads frame-to-frame changes instead of the frames (<see cref="SequenceNetwork.MotionScale"/>).</param>
    public sealed record Settings(int Window, int Stride, RecurrentCell Cell, int Hidden = 128, int Layers = 1, bool Motion = false);

    public sealed record Result(SequenceNetwork Network, float[] Mean, float[] Std, IReadOnlyList<EpochReport> Epochs,
        double? ValidationAccuracy, AnomalyCalibration? Calibration, int TrainWindows, int HeldOutWindows)
    {
        /// <summary>How an anomaly model scores windows; null for activity models.</summary>
        public AnomalyScore? Scoring { get; init; }
    }

    public Result TrainActivity(IReadOnlyList<Sequence> clips, int classes, Settings settings, IProgress<EpochReport>? progress, CancellationToken ct)
    {
        var features = Features(clips);
        var windows = Windows(clips, settings.Window, settings.Stride);
        if (windows.Count < 2 || windows.Select(w => clips[w.Sequence].Label).Distinct().Count() < 2)
        {
            throw new TrainingDataException($"need windows of at least two classes; got {windows.Count} windows of {settings.Window} frames");
        }
        var random = new Random((int)_options.Seed);
        var shuffled = windows.OrderBy(_ => random.Next()).ToList();
        var held = Math.Max(1, (int)(shuffled.Count * _options.ValidationFraction));
        var validation = shuffled[..held];
        var training = shuffled[held..];
        var (mean, std) = Standardisation(clips, features);
        var network = new SequenceNetwork(settings.Cell, features, settings.Hidden, settings.Layers, classes, settings.Motion ? MotionScale(clips, mean, std) : 0);
        var data = new WindowData(clips, mean, std, settings.Window);

        // Classes weighted by the inverse of their share of the training windows: per-track material is mostly walking,
        // and a model that says "walk" to everything would otherwise be close to the best it can do.
        var counts = new double[classes];
        foreach (var w in training)
        {
            counts[clips[w.Sequence].Label]++;
        }
        var weights = counts.Select(n => n > 0 ? (float)(training.Count / (classes * n)) : 1f).ToArray();
        using var classWeights = tensor(weights);
        var (epochs, best) = Fit(network, training, validation, data, progress, ct,
            (output, batch) => nn.functional.cross_entropy(output, tensor(batch.Select(w => (long)clips[w.Sequence].Label).ToArray(), ScalarType.Int64), classWeights),
            (output, batch) => output.argmax(1).eq(tensor(batch.Select(w => (long)clips[w.Sequence].Label).ToArray(), ScalarType.Int64)).sum().item<long>());
        return new Result(network, mean, std, epochs, best, null, training.Count, validation.Count);
    }

    public Result TrainAnomaly(IReadOnlyList<Sequence> normal, Settings settings, IProgress<EpochReport>? progress, CancellationToken ct)
    {
        var features = Features(normal);
        normal = [.. normal.Select(s => s with { Values = UnitRows(s.Values, features) })];
        var length = settings.Window + 1;
        // Hold out the last part of every sequence: calibration must see footage the network did not learn.
        var training = new List<WindowRef>();
        var heldOut = new List<WindowRef>();
        for (var s = 0; s < normal.Count; s++)
        {
            var split = (int)(normal[s].Rows * (1 - _options.ValidationFraction));
            // Training windows at the model's stride; held-out windows at every frame, as serving scores them.
            foreach (var w in Windows([normal[s]], length, 1))
            {
                if (w.Start + length <= split && w.Start % settings.Stride == 0)
                {
                    training.Add(w with { Sequence = s });
                }
                else if (w.Start >= split)
                {
                    heldOut.Add(w with { Sequence = s });
                }
            }
        }
        if (training.Count < 2 || heldOut.Count < 2)
        {
            throw new TrainingDataException($"normal footage too short: {training.Count} training and {heldOut.Count} held-out windows of {length} frames");
        }
        var (mean, std) = Standardisation(normal, features);
        var network = new SequenceNetwork(settings.Cell, features, settings.Hidden, settings.Layers, features);
        var data = new WindowData(normal, mean, std, settings.Window);
        var (epochs, _) = Fit(network, training, heldOut, data, progress, ct,
            (output, batch) => nn.functional.mse_loss(output, data.Targets(batch)), null);
        var scoring = Calibrate(network, data, training, heldOut);
        var scores = Collect(heldOut, batch => scoring.Score(network, data.Frames(batch), mean, std));
        Array.Sort(scores);
        var (scoreMean, scoreStd) = MeanAndStd(scores);
        var calibration = new AnomalyCalibration(scoreMean, scoreStd, Statistics.Percentile(scores, 0.99), 99, scores.Length);
        return new Result(network, mean, std, epochs, null, calibration, training.Count, heldOut.Count) { Scoring = scoring };
    }

    /// <summary>
    /// The normal statistics of both score terms: the prediction error's on held-out windows (the network has not
    /// learned them), the motion's on the training windows.
    /// </summary>
    private static AnomalyScore Calibrate(SequenceNetwork network, WindowData data, List<WindowRef> training, List<WindowRef> heldOut)
    {
        network.eval();
        using var noGrad = no_grad();
        var steps = Collect(training, batch => AnomalyScore.Step(AnomalyScore.UnitLength(data.Frames(batch))));
        Array.Sort(steps);
        var median = (float)Math.Max(Statistics.Percentile(steps, 0.5), AnomalyScore.MotionEpsilon);
        var motionOnly = new AnomalyScore(0, 1, median, 0, 1);
        var (motionMean, motionStd) = MeanAndStd(Collect(training, batch => motionOnly.Motion(AnomalyScore.UnitLength(data.Frames(batch)))));
        var (errorMean, errorStd) = MeanAndStd(Collect(heldOut, batch =>
        {
            var error = network.call(data.Inputs(batch)).sub(data.Targets(batch));
            return error.mul(error).mean([1]);
        }));
        return new AnomalyScore((float)errorMean, (float)Math.Max(errorStd, 1e-6), median, (float)motionMean, (float)Math.Max(motionStd, 1e-6));
    }

    /// <summary>Runs <paramref name="score"/> ([B] per batch) over the windows in batches, without gradients.</summary>
    private static double[] Collect(IReadOnlyList<WindowRef> windows, Func<WindowRef[], Tensor> score)
    {
        using var noGrad = no_grad();
        var values = new List<double>();
        foreach (var chunk in windows.Chunk(256))
        {
            using var scope = NewDisposeScope();
            values.AddRange(score(chunk).data<float>().ToArray().Select(v => (double)v));
        }
        return [.. values];
    }

    private static (double Mean, double Std) MeanAndStd(double[] values)
    {
        var mean = values.Average();
        return (mean, Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average()));
    }

    /// <summary>Each row of <paramref name="features"/> values divided by its L2 norm, as the anomaly graph does first.</summary>
    private static float[] UnitRows(float[] values, int features)
    {
        var unit = new float[values.Length];
        for (var r = 0; r < values.Length / features; r++)
        {
            var row = values.AsSpan(r * features, features);
            double squares = 0;
            foreach (var v in row)
            {
                squares += v * (double)v;
            }
            var norm = Math.Sqrt(squares);
            for (var f = 0; f < features; f++)
            {
                unit[r * features + f] = (float)(row[f] / norm);
            }
        }
        return unit;
    }

    private (List<EpochReport> Epochs, double? BestAccuracy) Fit(SequenceNetwork network, List<WindowRef> training, List<WindowRef> validation,
        WindowData data, IProgress<EpochReport>? progress, CancellationToken ct,
        Func<Tensor, WindowRef[], Tensor> loss, Func<Tensor, WindowRef[], long>? correct)
    {
        var clock = Stopwatch.StartNew();
        var random = new Random((int)_options.Seed);
        using var optimizer = new AdamOptimizer(network.parameters(), _options.LearningRate);
        var reports = new List<EpochReport>();
        using var best = new BestEpoch(_options.CheckpointPath);
        double? bestAccuracy = null;
        for (var epoch = 1; epoch <= _options.Epochs; epoch++)
        {
            network.train();
            var order = training.OrderBy(_ => random.Next()).ToArray();
            double trainLoss = 0;
            var steps = 0;
            foreach (var batch in order.Chunk(_options.BatchSize))
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var value = loss(network.call(data.Inputs(batch)), batch);
                optimizer.ZeroGrad();
                value.backward();
                optimizer.Step();
                trainLoss += value.item<float>();
                steps++;
            }
            network.eval();
            double validationLoss = 0;
            long right = 0;
            using (no_grad())
            {
                foreach (var batch in validation.Chunk(256))
                {
                    using var scope = NewDisposeScope();
                    var output = network.call(data.Inputs(batch));
                    validationLoss += loss(output, batch).item<float>() * batch.Length;
                    right += correct?.Invoke(output, batch) ?? 0;
                }
            }
            validationLoss /= validation.Count;
            double? accuracy = correct is null ? null : right / (double)validation.Count;
            // Activity keeps the most accurate epoch; anomaly the lowest held-out prediction error.
            var score = accuracy ?? -validationLoss;
            var improved = best.Offer(network, score);
            if (improved)
            {
                bestAccuracy = accuracy;
            }
            var report = new EpochReport(epoch, trainLoss / steps, validationLoss, accuracy, clock.Elapsed, improved);
            reports.Add(report);
            progress?.Report(report);
            if (best.ShouldStop(reports, _options.Patience, _options.TimeLimit))
            {
                break;
            }
        }
        best.Restore(network);
        return (reports, bestAccuracy);
    }

    private static int Features(IReadOnlyList<Sequence> sequences)
    {
        if (sequences.Count == 0)
        {
            throw new TrainingDataException("no sequences to train on");
        }
        var features = sequences[0].Values.Length / Math.Max(1, sequences[0].Rows);
        foreach (var s in sequences)
        {
            if (s.Rows == 0 || s.Values.Length != s.Rows * features)
            {
                throw new TrainingDataException($"{s.Name}: {s.Values.Length} values are not {s.Rows} rows of {features} features");
            }
        }
        return features;
    }

    /// <summary>Per-feature mean and std over every frame; std is floored so that near-constant features stay finite.</summary>
    private static (float[] Mean, float[] Std) Standardisation(IReadOnlyList<Sequence> sequences, int features)
    {
        var sum = new double[features];
        var squares = new double[features];
        long rows = 0;
        foreach (var s in sequences)
        {
            for (var r = 0; r < s.Rows; r++)
            {
                for (var f = 0; f < features; f++)
                {
                    var v = s.Values[r * features + f];
                    sum[f] += v;
                    squares[f] += v * (double)v;
                }
            }
            rows += s.Rows;
        }
        var mean = sum.Select(v => (float)(v / rows)).ToArray();
        var std = squares.Select((v, f) => Math.Sqrt(Math.Max(v / rows - mean[f] * (double)mean[f], 0))).ToArray();
        // The floor is relative to the typical feature's spread, so it suits raw and unit-length embeddings alike.
        var floor = Math.Max(0.1 * std.Order().ElementAt(std.Length / 2), 1e-6);
        return (mean, std.Select(v => (float)Math.Max(v, floor)).ToArray());
    }

    /// <summary>
    /// 1 / the root mean square of standardised frame-to-frame changes within the clips, so that the changes reach the
    /// recurrent layer at unit scale (they are far smaller than the differences between clips, which set the
    /// standardisation).
    /// </summary>
    private static float MotionScale(IReadOnlyList<Sequence> clips, float[] mean, float[] std)
    {
        double squares = 0;
        long count = 0;
        foreach (var clip in clips)
        {
            for (var i = mean.Length; i < clip.Values.Length; i++)
            {
                var f = i % mean.Length;
                var change = (clip.Values[i] - clip.Values[i - mean.Length]) / std[f];
                squares += change * change;
                count++;
            }
        }
        var rms = count == 0 ? 0 : Math.Sqrt(squares / count);
        return rms > 1e-6 ? (float)(1 / rms) : 1;
    }

    private static List<WindowRef> Windows(IReadOnlyList<Sequence> sequences, int length, int stride)
    {
        var windows = new List<WindowRef>();
        for (var s = 0; s < sequences.Count; s++)
        {
            for (var start = 0; start + length <= sequences[s].Rows; start += stride)
            {
                windows.Add(new WindowRef(s, start));
            }
        }
        return windows;
    }


    public sealed record WindowRef(int Sequence, int Start);

    /// <summary>Builds standardised input and target tensors for windows of the sequences.</summary>
    public sealed class WindowData(IReadOnlyList<Sequence> sequences, float[] mean, float[] std, int window)
    {
        private readonly int _features = mean.Length;

        /// <summary>[B, T, F]: the first T frames of each window, standardised.</summary>
        public Tensor Inputs(IReadOnlyList<WindowRef> batch)
        {
            var values = new float[batch.Count * window * _features];
            for (var i = 0; i < batch.Count; i++)
            {
                Copy(batch[i], 0, window, values.AsSpan(i * window * _features));
            }
            return tensor(values, [batch.Count, window, _features]);
        }

        /// <summary>[B, T + 1, F]: each window and the frame after it, as they are (not standardised).</summary>
        public Tensor Frames(IReadOnlyList<WindowRef> batch)
        {
            var values = new float[batch.Count * (window + 1) * _features];
            for (var i = 0; i < batch.Count; i++)
            {
                sequences[batch[i].Sequence].Values.AsSpan(batch[i].Start * _features, (window + 1) * _features)
                    .CopyTo(values.AsSpan(i * (window + 1) * _features));
            }
            return tensor(values, [batch.Count, window + 1, _features]);
        }

        /// <summary>[B, F]: the frame after each window, standardised.</summary>
        public Tensor Targets(IReadOnlyList<WindowRef> batch)
        {
            var values = new float[batch.Count * _features];
            for (var i = 0; i < batch.Count; i++)
            {
                Copy(batch[i], window, 1, values.AsSpan(i * _features));
            }
            return tensor(values, [batch.Count, _features]);
        }

        private void Copy(WindowRef w, int offset, int rows, Span<float> target)
        {
            var source = sequences[w.Sequence].Values.AsSpan((w.Start + offset) * _features, rows * _features);
            for (var i = 0; i < source.Length; i++)
            {
                var f = i % _features;
                target[i] = (source[i] - mean[f]) / std[f];
            }
        }
    }
}

using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>
/// Trains <see cref="Networks.ImageCnn"/> from scratch on uint8 images (N, H, W, C) with labels: Adam, cross-entropy,
/// a held-out validation split for early stopping, and the best epoch's weights kept. Inputs are normalised as
/// (x·scale − mean) / std per channel, the same arithmetic the exported graph performs.
/// </summary>
public sealed class ImageClassifierTrainer
{
    private readonly TrainOptions _options;

    public ImageClassifierTrainer(TrainOptions options) => _options = options;

    public sealed record Data(byte[] Pixels, long[] Labels, int Count, int Height, int Width, int Channels);

    public sealed record Normalization(float Scale, float[] Mean, float[] Std);

    public sealed record Result(Sequential Network, Normalization Normalization, IReadOnlyList<EpochReport> Epochs,
        double BestValidationAccuracy, TimeSpan Elapsed, bool StoppedEarly);

    /// <summary>Per-channel mean and std of the pixels after scaling by 1/255.</summary>
    public static Normalization Measure(Data data)
    {
        var c = data.Channels;
        var sum = new double[c];
        var sumSquares = new double[c];
        for (var i = 0; i < data.Pixels.Length; i++)
        {
            var v = data.Pixels[i] / 255.0;
            sum[i % c] += v;
            sumSquares[i % c] += v * v;
        }
        var n = data.Pixels.Length / (double)c;
        var mean = sum.Select(s => (float)(s / n)).ToArray();
        var std = sumSquares.Select((s, i) => (float)Math.Sqrt(Math.Max(s / n - mean[i] * (double)mean[i], 1e-6))).ToArray();
        return new Normalization(1f / 255f, mean, std);
    }

    /// <summary>Images [count, H, W, C] uint8 → normalised float tensor [count, C, H, W].</summary>
    public static Tensor ToInput(ReadOnlySpan<byte> pixels, int count, Data shape, Normalization norm)
    {
        using var scope = NewDisposeScope();
        var bytes = tensor(pixels.ToArray(), [count, shape.Height, shape.Width, shape.Channels], ScalarType.Byte);
        using var scale = norm.Scale.ToScalar();
        var x = bytes.to_type(ScalarType.Float32).permute(0, 3, 1, 2).mul(scale);
        var mean = tensor(norm.Mean, [1, shape.Channels, 1, 1]);
        var std = tensor(norm.Std, [1, shape.Channels, 1, 1]);
        return x.sub(mean).div(std).contiguous().MoveToOuterDisposeScope();
    }

    public Result Train(Data train, int classes, IProgress<StepProgress>? steps, IProgress<EpochReport>? epochs, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var random = new Random((int)_options.Seed);
        var order = Enumerable.Range(0, train.Count).ToArray();
        random.Shuffle(order);
        var validationCount = Math.Max(1, (int)(train.Count * _options.ValidationFraction));
        var validation = order[..validationCount];
        var training = order[validationCount..];
        var norm = Measure(train);

        var network = Networks.ImageCnn(train.Channels, train.Height, train.Width, classes);
        using var optimizer = new AdamOptimizer(network.parameters(), _options.LearningRate);
        var imageBytes = train.Height * train.Width * train.Channels;
        var reports = new List<EpochReport>();
        using var best = new BestEpoch(_options.CheckpointPath);
        var stoppedEarly = false;
        var batch = new byte[_options.BatchSize * imageBytes];
        var labels = new long[_options.BatchSize];
        for (var epoch = 1; epoch <= _options.Epochs; epoch++)
        {
            network.train();
            random.Shuffle(training);
            var stepCount = (training.Length + _options.BatchSize - 1) / _options.BatchSize;
            double lossSum = 0;
            for (var step = 0; step < stepCount; step++)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var indices = training.AsSpan(step * _options.BatchSize, Math.Min(_options.BatchSize, training.Length - step * _options.BatchSize));
                for (var i = 0; i < indices.Length; i++)
                {
                    train.Pixels.AsSpan(indices[i] * imageBytes, imageBytes).CopyTo(batch.AsSpan(i * imageBytes));
                    labels[i] = train.Labels[indices[i]];
                }
                var x = ToInput(batch.AsSpan(0, indices.Length * imageBytes), indices.Length, train, norm);
                var y = tensor(labels.AsSpan(0, indices.Length).ToArray(), ScalarType.Int64);
                var loss = nn.functional.cross_entropy(network.call(x), y);
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                var value = loss.item<float>();
                lossSum += value;
                steps?.Report(new StepProgress(epoch, step + 1, stepCount, value));
            }
            var (validationLoss, accuracy) = Evaluate(network, train, validation, norm);
            var improved = best.Offer(network, accuracy);
            var report = new EpochReport(epoch, lossSum / stepCount, validationLoss, accuracy, clock.Elapsed, improved);
            reports.Add(report);
            epochs?.Report(report);
            // Stop early on patience, or when one more epoch like this one would pass the time limit.
            if (best.ShouldStop(reports, _options.Patience, _options.TimeLimit))
            {
                stoppedEarly = epoch < _options.Epochs;
                break;
            }
        }
        best.Restore(network);
        return new Result(network, norm, reports, best.Score, clock.Elapsed, stoppedEarly);
    }

    /// <summary>Mean loss and accuracy of <paramref name="network"/> on the given images, in eval mode.</summary>
    public static (double Loss, double Accuracy) Evaluate(Sequential network, Data data, int[] indices, Normalization norm, int batchSize = 256)
    {
        network.eval();
        using var noGrad = no_grad();
        var imageBytes = data.Height * data.Width * data.Channels;
        var batch = new byte[batchSize * imageBytes];
        double lossSum = 0;
        long correct = 0;
        for (var start = 0; start < indices.Length; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var count = Math.Min(batchSize, indices.Length - start);
            var labels = new long[count];
            for (var i = 0; i < count; i++)
            {
                data.Pixels.AsSpan(indices[start + i] * imageBytes, imageBytes).CopyTo(batch.AsSpan(i * imageBytes));
                labels[i] = data.Labels[indices[start + i]];
            }
            var logits = network.call(ToInput(batch.AsSpan(0, count * imageBytes), count, data, norm));
            var y = tensor(labels, ScalarType.Int64);
            lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(y).sum().item<long>();
        }
        return (lossSum / indices.Length, correct / (double)indices.Length);
    }
}

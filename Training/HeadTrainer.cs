using System.Diagnostics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>
/// Trains <see cref="Networks.EmbeddingHead"/>, a classifier over frozen frame-model embeddings: Adam, cross-entropy,
/// a random validation split for early stopping, the most accurate epoch kept.
/// </summary>
public sealed class HeadTrainer(TrainOptions options)
{
    public sealed record Result(Sequential Network, IReadOnlyList<EpochReport> Epochs, double ValidationAccuracy, int[] Validation);

    /// <param name="embeddings">Rows of <paramref name="features"/> values, one per sample.</param>
    public Result Train(float[] embeddings, long[] labels, int features, int classes, IProgress<EpochReport>? progress, CancellationToken ct)
    {
        var count = labels.Length;
        var random = new Random((int)options.Seed);
        var order = Enumerable.Range(0, count).OrderBy(_ => random.Next()).ToArray();
        var held = Math.Max(1, (int)(count * options.ValidationFraction));
        var validation = order[..held];
        var training = order[held..];
        var network = Networks.EmbeddingHead(features, classes);
        using var optimizer = new AdamOptimizer(network.parameters(), options.LearningRate);
        var clock = Stopwatch.StartNew();
        var reports = new List<EpochReport>();
        using var best = new BestEpoch(options.CheckpointPath);
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            network.train();
            random.Shuffle(training);
            double lossSum = 0;
            var steps = 0;
            foreach (var batch in training.Chunk(options.BatchSize))
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var loss = nn.functional.cross_entropy(network.call(Rows(embeddings, batch, features)), Labels(labels, batch));
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                lossSum += loss.item<float>();
                steps++;
            }
            var (validationLoss, accuracy) = Evaluate(network, embeddings, labels, validation, features);
            var improved = best.Offer(network, accuracy);
            var report = new EpochReport(epoch, lossSum / steps, validationLoss, accuracy, clock.Elapsed, improved);
            reports.Add(report);
            progress?.Report(report);
            if (best.ShouldStop(reports, options.Patience, options.TimeLimit))
            {
                break;
            }
        }
        best.Restore(network);
        return new Result(network, reports, best.Score, validation);
    }

    private static (double Loss, double Accuracy) Evaluate(Sequential network, float[] embeddings, long[] labels, int[] indices, int features)
    {
        network.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logits = network.call(Rows(embeddings, indices, features));
        var y = Labels(labels, indices);
        return (nn.functional.cross_entropy(logits, y).item<float>(), logits.argmax(1).eq(y).sum().item<long>() / (double)indices.Length);
    }

    private static Tensor Rows(float[] embeddings, int[] indices, int features)
    {
        var values = new float[indices.Length * features];
        for (var i = 0; i < indices.Length; i++)
        {
            embeddings.AsSpan(indices[i] * features, features).CopyTo(values.AsSpan(i * features));
        }
        return tensor(values, [indices.Length, features]);
    }

    private static Tensor Labels(long[] labels, int[] indices) => tensor(indices.Select(i => labels[i]).ToArray(), ScalarType.Int64);
}

using System.Diagnostics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>
/// Times N training steps (forward, cross-entropy or MSE, backward, Adam step) of Edge's CNN and GRU on fixed random
/// data, after warm-up steps. scripts/peer_torch_train.py runs the same networks, shapes and steps in PyTorch.
/// </summary>
public static class TrainingBenchmark
{
    public sealed record Timing(string Model, int Steps, int Batch, double Seconds)
    {
        public double StepsPerSecond => Steps / Seconds;
    }

    /// <summary>The CNN on 28×28×1 images with 10 classes (the Fashion-MNIST setting).</summary>
    public static Timing Cnn(int steps, int batch, int warmup = 5)
    {
        using var network = Networks.ImageCnn(1, 28, 28, 10);
        using var x = randn(batch, 1, 28, 28);
        using var y = randint(0, 10, [batch], dtype: ScalarType.Int64);
        return Time("cnn", network, steps, batch, warmup, () => nn.functional.cross_entropy(network.call(x), y));
    }

    /// <summary>The GRU over windows of 16 ResNet18 embeddings (512-d), 128 hidden units, predicting the next embedding.</summary>
    public static Timing Gru(int steps, int batch, int warmup = 5)
    {
        using var network = new SequenceNetwork(RecurrentCell.Gru, 512, 128, 1, 512);
        using var x = randn(batch, 16, 512);
        using var y = randn(batch, 512);
        return Time("gru", network, steps, batch, warmup, () => nn.functional.mse_loss(network.call(x), y));
    }

    private static Timing Time(string name, nn.Module network, int steps, int batch, int warmup, Func<Tensor> loss)
    {
        network.train();
        using var optimizer = new AdamOptimizer(network.parameters(), 1e-3);
        void Step()
        {
            using var scope = NewDisposeScope();
            var value = loss();
            optimizer.ZeroGrad();
            value.backward();
            optimizer.Step();
        }
        for (var i = 0; i < warmup; i++)
        {
            Step();
        }
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++)
        {
            Step();
        }
        return new Timing(name, steps, batch, clock.Elapsed.TotalSeconds);
    }
}

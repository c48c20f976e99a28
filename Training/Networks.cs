using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Edge.Training;

/// <summary>The networks Edge trains. Layer names are weight names: keep them stable.</summary>
public static class Networks
{
    /// <summary>
    /// A small CNN for images of <paramref name="height"/>×<paramref name="width"/>×<paramref name="channels"/>:
    /// two blocks of (conv-BN-ReLU ×2, max-pool), then a two-layer classifier with dropout.
    /// </summary>
    public static Sequential ImageCnn(int channels, int height, int width, int classes, int width1 = 32, int width2 = 64)
    {
        if (height % 4 != 0 || width % 4 != 0)
        {
            throw new ArgumentException($"image size {width}x{height} must be a multiple of 4");
        }
        return Sequential(
            ("conv1", Conv2d(channels, width1, 3, padding: 1)), ("bn1", BatchNorm2d(width1)), ("relu1", ReLU()),
            ("conv2", Conv2d(width1, width1, 3, padding: 1)), ("bn2", BatchNorm2d(width1)), ("relu2", ReLU()),
            ("pool1", MaxPool2d(2)),
            ("conv3", Conv2d(width1, width2, 3, padding: 1)), ("bn3", BatchNorm2d(width2)), ("relu3", ReLU()),
            ("conv4", Conv2d(width2, width2, 3, padding: 1)), ("bn4", BatchNorm2d(width2)), ("relu4", ReLU()),
            ("pool2", MaxPool2d(2)),
            ("flatten", Flatten()), ("drop1", Dropout(0.3)),
            ("fc1", Linear(width2 * (height / 4) * (width / 4), 128)), ("relu5", ReLU()), ("drop2", Dropout(0.3)),
            ("fc2", Linear(128, classes)));
    }

    /// <summary>A classification head over frozen frame embeddings.</summary>
    public static Sequential EmbeddingHead(int embeddingSize, int classes, int hidden = 128) =>
        Sequential(("fc1", Linear(embeddingSize, hidden)), ("relu1", ReLU()), ("drop1", Dropout(0.2)), ("fc2", Linear(hidden, classes)));
}

/// <summary>
/// A GRU or LSTM over a window of per-frame embeddings [N, T, F] (batch first), whose last time step goes through a
/// linear head: class scores for activity, the next embedding for anomaly. With a <see cref="MotionScale"/> above 0
/// each step reads the frame's change from the one before (zero for the first) times that scale instead of the frame:
/// what moved rather than what is seen. Given the frames, a recurrent layer over a few hundred clips learns each
/// clip's look (background, colours) long before it learns to difference frames itself, even with the changes beside
/// the frames.
/// </summary>
public sealed class SequenceNetwork : Module<Tensor, Tensor>
{
    private readonly Module rnn;
    private readonly Linear head;

    public SequenceNetwork(RecurrentCell cell, int inputSize, int hiddenSize, int layers, int outputs, float motionScale = 0) : base(nameof(SequenceNetwork))
    {
        Cell = cell;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        Layers = layers;
        Outputs = outputs;
        MotionScale = motionScale;
        rnn = cell == RecurrentCell.Gru
            ? GRU(inputSize, hiddenSize, layers, batchFirst: true)
            : LSTM(inputSize, hiddenSize, layers, batchFirst: true);
        head = Linear(hiddenSize, outputs);
        RegisterComponents();
    }

    /// <summary>Factor on the frame-to-frame changes read instead of the frames; 0 reads the frames.</summary>
    public float MotionScale { get; }

    public RecurrentCell Cell { get; }

    public int InputSize { get; }

    public int HiddenSize { get; }

    public int Layers { get; }

    public int Outputs { get; }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        if (MotionScale > 0)
        {
            var previous = cat([input.narrow(1, 0, 1), input.narrow(1, 0, input.shape[1] - 1)], 1);
            // A held Scalar, not an implicit conversion: see AdamOptimizer.
            using var motionScale = MotionScale.ToScalar();
            input = input.sub(previous).mul(motionScale);
        }
        var sequence = rnn switch
        {
            GRU gru => gru.call(input, null).Item1,
            LSTM lstm => lstm.call(input, null).Item1,
            _ => throw new InvalidOperationException("unknown recurrent layer"),
        };
        var last = sequence.select(1, -1);
        return head.call(last).MoveToOuterDisposeScope();
    }
}

public enum RecurrentCell
{
    Gru,
    Lstm,
}

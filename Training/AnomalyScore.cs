using TorchSharp;
using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>
/// How an anomaly model scores a window of T + 1 frame embeddings, and the statistics of normal footage it needs.
/// Embeddings are first scaled to unit length (the frame model's magnitude carries brightness more than content).
/// The score is the sum of two terms, each standardised on normal footage:
/// <list type="bullet">
/// <item>the prediction error: the GRU/LSTM reads the first T frames (standardised per feature) and predicts frame
/// T + 1; the mean squared error, as (error − ErrorMean) / ErrorStd over held-out normal windows. It is high when the
/// content or its motion is unlike normal footage: a splice, darkness, an occlusion, an object that should not be
/// there, motion that runs backwards.</item>
/// <item>the motion energy: how far the newest frame moved from the one before in embedding space, on a log scale
/// around the normal median, two-sided: |ln((‖n[T] − n[T−1]‖ + ε) / MotionMedian)|, standardised as
/// (m − MotionMean) / MotionStd. It is high when the picture jumps (shake) and also when it stops changing in footage
/// that always changes (a frozen feed), which a prediction error cannot see: a frozen frame is easy to predict.</item>
/// </list>
/// The exported graph computes exactly this (<see cref="Onnx.TorchOnnxExporter.ExportSequence"/>); this is the
/// reference the export is tested against and the code that calibrates the scores.
/// </summary>
public sealed record AnomalyScore(float ErrorMean, float ErrorStd, float MotionMedian, float MotionMean, float MotionStd)
{
    /// <summary>Keeps the logarithm finite for a frozen feed, whose frames are identical.</summary>
    public const float MotionEpsilon = 1e-3f;

    /// <summary>Scores windows [N, T + 1, F] of raw embeddings: [N].</summary>
    /// <remarks>Every number reaches libtorch as a Scalar held until its call returns; see <see cref="AdamOptimizer"/>
    /// for why TorchSharp's implicit conversions are not used.</remarks>
    public Tensor Score(SequenceNetwork network, Tensor windows, float[] mean, float[] std)
    {
        using var scope = NewDisposeScope();
        using var errorMean = ErrorMean.ToScalar();
        using var errorStd = ErrorStd.ToScalar();
        using var motionMean = MotionMean.ToScalar();
        using var motionStd = MotionStd.ToScalar();
        using var one = 1f.ToScalar();
        var frames = windows.shape[1];
        var unit = UnitLength(windows);
        var standardised = unit.sub(tensor(mean)).div(tensor(std));
        var error = network.call(standardised.narrow(1, 0, frames - 1)).sub(standardised.select(1, frames - 1));
        var errorTerm = error.mul(error).mean([1]).sub(errorMean).div(errorStd);
        return errorTerm.add(Motion(unit).sub(motionMean).div(motionStd), one).MoveToOuterDisposeScope();
    }

    /// <summary>Each row of [..., F] divided by its L2 norm.</summary>
    public static Tensor UnitLength(Tensor x) => x.div(x.norm(-1, keepdim: true));

    /// <summary>‖n[T] − n[T−1]‖ of unit-length windows [N, T + 1, F]: [N].</summary>
    public static Tensor Step(Tensor unit)
    {
        var frames = unit.shape[1];
        return unit.select(1, frames - 1).sub(unit.select(1, frames - 2)).norm(-1);
    }

    /// <summary>The unstandardised motion term of unit-length windows [N, T + 1, F]: [N].</summary>
    public Tensor Motion(Tensor unit)
    {
        using var scope = NewDisposeScope();
        using var epsilon = MotionEpsilon.ToScalar();
        using var median = MotionMedian.ToScalar();
        using var one = 1f.ToScalar();
        return Step(unit).add(epsilon, one).div(median).log().abs().MoveToOuterDisposeScope();
    }
}

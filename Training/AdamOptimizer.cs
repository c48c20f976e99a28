using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>
/// Adam (Kingma and Ba), the same update torch.optim.Adam makes with its defaults (β 0.9/0.999, ε 1e-8, no weight
/// decay, no AMSGrad), with every scalar operand held until the native call that reads it has returned.
/// <para>
/// Why not <c>optim.Adam</c>: TorchSharp 0.107 turns numbers into <see cref="Scalar"/> objects inside its operators and
/// optimizers (<c>add_(grad, alpha: 1 − β1)</c>, the hidden alpha of <c>add(Tensor)</c>, <c>pow(2)</c>) and stops
/// referencing them as soon as their handle is read. When another thread's allocation starts a garbage collection
/// during the native call, the finalizer frees the scalar under libtorch, which then fails with "Unknown scalar type"
/// or "Expected false to be true". A tight loop of TorchSharp's Adam steps with a thread that keeps collecting failed
/// about once in 3,000 steps; in the test host and a serving process other threads always allocate.
/// </para>
/// Owns its two moment tensors per parameter (native memory) until <see cref="Dispose"/>; the parameters stay the
/// network's.
/// </summary>
public sealed class AdamOptimizer : IDisposable
{
    private const double Beta1 = 0.9;
    private const double Beta2 = 0.999;
    private const double Epsilon = 1e-8;

    private readonly Parameter[] _parameters;
    private readonly Tensor[] _firstMoments;
    private readonly Tensor[] _secondMoments;
    private readonly double _learningRate;
    private long _steps;

    public AdamOptimizer(IEnumerable<Parameter> parameters, double learningRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(learningRate);
        _parameters = parameters.ToArray();
        _learningRate = learningRate;
        using (no_grad())
        {
            _firstMoments = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
            _secondMoments = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        }
    }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var parameter in _parameters)
        {
            using var grad = parameter.grad;
            grad?.zero_();
        }
    }

    /// <summary>One update from the gradients the last backward pass left on the parameters.</summary>
    public void Step()
    {
        _steps++;
        var correction1 = 1 - Math.Pow(Beta1, _steps);
        var correction2 = 1 - Math.Pow(Beta2, _steps);
        using var noGrad = no_grad();
        using var beta1 = Beta1.ToScalar();
        using var oneMinusBeta1 = (1 - Beta1).ToScalar();
        using var beta2 = Beta2.ToScalar();
        using var oneMinusBeta2 = (1 - Beta2).ToScalar();
        using var sqrtCorrection2 = Math.Sqrt(correction2).ToScalar();
        using var epsilon = Epsilon.ToScalar();
        using var one = 1.0.ToScalar();
        using var stepSize = (-_learningRate / correction1).ToScalar();
        for (var i = 0; i < _parameters.Length; i++)
        {
            using var grad = _parameters[i].grad;
            if (grad is null)
            {
                continue;
            }
            _firstMoments[i].mul_(beta1).add_(grad, oneMinusBeta1);
            _secondMoments[i].mul_(beta2).addcmul_(grad, grad, oneMinusBeta2);
            using var root = _secondMoments[i].sqrt();
            using var denominator = root.div_(sqrtCorrection2).add_(epsilon, one);
            _parameters[i].addcdiv_(_firstMoments[i], denominator, stepSize);
        }
    }

    public void Dispose()
    {
        foreach (var moment in _firstMoments.Concat(_secondMoments))
        {
            moment.Dispose();
        }
    }
}

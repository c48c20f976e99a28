using static TorchSharp.torch;

namespace Edge.Training;

/// <summary>
/// Keeps the weights of the best epoch so far (higher score is better), saves them as a checkpoint when they
/// improve, and counts epochs since, for early stopping. Owns the copied tensors until disposed.
/// </summary>
internal sealed class BestEpoch(string? checkpointPath) : IDisposable
{
    private Dictionary<string, Tensor>? _weights;

    public double Score { get; private set; } = double.NegativeInfinity;

    public int EpochsSince { get; private set; }

    /// <summary>Records an epoch's score; returns true (and keeps its weights) when it is the best so far.</summary>
    public bool Offer(nn.Module network, double score)
    {
        if (score <= Score)
        {
            EpochsSince++;
            return false;
        }
        Score = score;
        EpochsSince = 0;
        DisposeWeights();
        using (NewDisposeScope())
        {
            // Only the clones outlive the scope; the detached views are freed with it.
            _weights = network.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone().MoveToOuterDisposeScope());
        }
        Checkpoint.Save(network, checkpointPath);
        return true;
    }

    /// <summary>
    /// Whether training stops after this epoch: no improvement for <paramref name="patience"/> epochs, or one more epoch
    /// as long as the last would pass <paramref name="timeLimit"/>.
    /// </summary>
    public bool ShouldStop(IReadOnlyList<EpochReport> reports, int patience, TimeSpan timeLimit)
    {
        var elapsed = reports[^1].Elapsed;
        var lastEpoch = elapsed - (reports.Count > 1 ? reports[^2].Elapsed : TimeSpan.Zero);
        return EpochsSince >= patience || elapsed + lastEpoch > timeLimit;
    }

    /// <summary>Puts the best weights back into the network and switches it to eval mode.</summary>
    public void Restore(nn.Module network)
    {
        if (_weights is not null)
        {
            network.load_state_dict(_weights);
        }
        network.eval();
    }

    private void DisposeWeights()
    {
        foreach (var tensor in _weights?.Values ?? Enumerable.Empty<Tensor>())
        {
            tensor.Dispose();
        }
        _weights = null;
    }

    public void Dispose() => DisposeWeights();
}

namespace Edge.Training;

/// <summary>Settings shared by the trainers.</summary>
public sealed record TrainOptions
{
    public int Epochs { get; init; } = 8;

    public int BatchSize { get; init; } = 64;

    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Stop when validation accuracy has not improved for this many epochs.</summary>
    public int Patience { get; init; } = 3;

    /// <summary>Share of the training data held out for validation and early stopping.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    public long Seed { get; init; } = 1;

    /// <summary>CPU threads for libtorch; 0 uses one per core.</summary>
    public int Threads { get; init; }

    /// <summary>Where the best weights so far are saved after each improving epoch (TorchSharp format); null for none.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Stop after this long even if epochs remain (the best checkpoint so far is kept).</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>One epoch's numbers, reported as training goes.</summary>
/// <param name="ValidationAccuracy">Share of held-out samples classified right; null for models that do not classify.</param>
public sealed record EpochReport(int Epoch, double TrainLoss, double ValidationLoss, double? ValidationAccuracy, TimeSpan Elapsed, bool Improved);

/// <summary>Progress within an epoch, for progress bars.</summary>
public sealed record StepProgress(int Epoch, int Step, int Steps, double Loss);

/// <summary>Saves a module's weights through a temporary file, so a checkpoint on disk is always whole.</summary>
public static class Checkpoint
{
    public static void Save(TorchSharp.torch.nn.Module module, string? path)
    {
        if (path is null)
        {
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        module.save(temp);
        File.Move(temp, path, overwrite: true);
    }
}

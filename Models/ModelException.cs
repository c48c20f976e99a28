namespace Edge.Models;

public enum ModelError
{
    /// <summary>The model file or its manifest does not exist.</summary>
    NotFound,
    /// <summary>The model or manifest is unreadable or does not match what the caller needs (shape, type, names).</summary>
    Invalid,
    /// <summary>The requested execution provider cannot run on this machine.</summary>
    ProviderUnavailable,
}

/// <summary>An expected failure around a model: its message is written for the user, without a stack trace.</summary>
public sealed class ModelException(ModelError error, string message, Exception? inner = null) : Exception(message, inner)
{
    public ModelError Error { get; } = error;
}

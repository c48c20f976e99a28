namespace Edge.Pipeline.Outputs;

/// <summary>An output location (results folder, event store, outbox, video file) that cannot be written.</summary>
public sealed class OutputException(string message, Exception? inner = null) : Exception(message, inner);

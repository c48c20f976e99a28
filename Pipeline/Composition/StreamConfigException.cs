namespace Edge.Pipeline.Composition;

/// <summary>A stream's parts do not fit together as configured (zones or per-track activity without a tracker): a configuration error, said in one line.</summary>
public sealed class StreamConfigException(string message) : Exception(message);

namespace Edge.Capture;

public enum SourceKind
{
    File,
    Camera,
    Network,
    ImageFolder,
}

/// <summary>What a source is, as known once it is open.</summary>
/// <param name="Location">Where it reads from, with any credentials removed.</param>
/// <param name="FrameCount">Frames the container says it holds (files and folders); null for live sources.</param>
public sealed record SourceInfo(
    SourceKind Kind,
    string Location,
    bool IsLive,
    int Width,
    int Height,
    double Fps,
    long? FrameCount,
    string Backend);

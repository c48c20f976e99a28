using System.ComponentModel.DataAnnotations;

namespace Edge.Pipeline;

/// <summary>When the object stage classifies a frame's motion regions (or runs the detector on it).</summary>
public enum ObjectGating
{
    /// <summary>On every frame with motion regions; frames where nothing moves are skipped and have no objects.</summary>
    Motion,

    /// <summary>On every Nth frame of a stream (its motion regions); the frames between carry the latest run's objects.</summary>
    EveryNth,

    /// <summary>On every frame: its motion regions or, when nothing moves, the stream's latest motion regions again.</summary>
    Always,
}

/// <summary>The object stage: motion regions, crops, the frame model and a classification head. Config section "Objects".</summary>
public sealed class ObjectOptions
{
    public const string Section = "Objects";

    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Classification head (kind embedding-classifier) relative to Models:Directory: over the frame's grid pooled under
    /// each region (the default, no second CNN pass) or over each crop's embedding (<c>objects-head.onnx</c>, a pass a crop).
    /// </summary>
    public string HeadModel { get; set; } = "objects-grid-head.onnx";

    /// <summary>
    /// A box detector in the YOLO output layout (Edge's own from <c>edge train detector</c>, or a YOLOv5/v8 ONNX export),
    /// relative to Models:Directory. When set, it finds the objects instead of motion regions and the head; empty = motion
    /// regions classified by the head.
    /// </summary>
    public string DetectorModel { get; set; } = "";

    /// <summary>Detector boxes scoring below this are dropped (the tracker takes those under Tracking:HighScore in its second pass).</summary>
    [Range(0.01, 1.0)]
    public double DetectorMinScore { get; set; } = 0.25;

    /// <summary>Non-maximum suppression: a box overlapping a higher-scoring box of its class by more than this is dropped.</summary>
    [Range(0.05, 0.95)]
    public double DetectorNmsIou { get; set; } = 0.45;

    /// <summary>A missing head is an error when true, else the object stage is off and says so once.</summary>
    public bool Required { get; set; }

    /// <summary>Smallest motion region kept, in original-frame pixels (width × height of its box).</summary>
    [Range(16, 10_000_000)]
    public int MinAreaPx { get; set; } = 600;

    /// <summary>Motion boxes closer than this (original-frame pixels) are merged into one.</summary>
    [Range(0, 1000)]
    public int MergeGapPx { get; set; } = 8;

    /// <summary>Most crops classified per frame, largest regions first.</summary>
    [Range(1, 64)]
    public int MaxObjects { get; set; } = 8;

    /// <summary>Margin added on each side of a region before its crop is squared, as a share of the region's longer side.</summary>
    [Range(0.0, 1.0)]
    public double Margin { get; set; } = 0.15;

    public ObjectGating Gating { get; set; } = ObjectGating.Motion;

    /// <summary>With <see cref="ObjectGating.EveryNth"/>: frames between crop CNN runs.</summary>
    [Range(1, 10_000)]
    public int EveryNthFrame { get; set; } = 5;
}

using System.ComponentModel.DataAnnotations;

namespace Edge.Pipeline.Zones;

/// <summary>
/// The zones and counting lines of one stream, in that stream's frame pixels (x right, y down, origin top left), and
/// the rules that refer to them. Config section "Zones" (per stream). Checked by <see cref="ZoneLayout.Check"/> and
/// compiled by <see cref="ZoneLayout.Create"/> once the frame size is known.
/// </summary>
public sealed class ZoneLayoutOptions
{
    public const string Section = "Zones";

    /// <summary>Named polygons: who is inside, since when, how many entered.</summary>
    public ZoneOptions[] Zones { get; set; } = [];

    /// <summary>Named directed segments: crossings counted per direction.</summary>
    public LineOptions[] Lines { get; set; } = [];

    /// <summary>Per-zone dwell thresholds: a track inside a zone longer than this makes one loiter event per visit.</summary>
    public LoiterRule[] Loitering { get; set; } = [];

    /// <summary>
    /// Width of the band around a zone's border or a line in which a point changes nothing, in pixels: a box that
    /// jitters by less than this on the border does not flap in and out.
    /// </summary>
    [Range(0.0, 1000.0)]
    public double HysteresisPx { get; set; } = 4;

    /// <summary>Observations in a row on the other side (beyond the band) before a track counts as entered, exited or crossed.</summary>
    [Range(1, 1000)]
    public int DebounceObservations { get; set; } = 2;

    /// <summary>
    /// A track not observed for this long is forgotten (leaving any zone it was in): a safety net that bounds memory
    /// when the caller does not report ended tracks.
    /// </summary>
    [Range(1.0, 86_400_000.0)]
    public double ForgetAfterMs { get; set; } = 60_000;
}

/// <summary>A named polygon, vertices in order (either winding), at least three, not crossing itself.</summary>
public sealed class ZoneOptions
{
    public string Name { get; set; } = "";

    /// <summary>Vertices as [x, y] pairs in frame pixels.</summary>
    public double[][] Points { get; set; } = [];
}

/// <summary>
/// A named directed segment [from, to]. Left and right are as for someone walking on the picture from <c>from</c> to
/// <c>to</c>, the picture read like a map (y grows down): for a line from (100, 300) to (500, 300), a track moving down
/// the picture crosses LeftToRight and one moving up crosses RightToLeft. Only crossings of the segment count, not of
/// the infinite line through it.
/// </summary>
public sealed class LineOptions
{
    public string Name { get; set; } = "";

    /// <summary>Exactly two points, [x, y] each, in frame pixels: from, then to.</summary>
    public double[][] Points { get; set; } = [];
}

/// <summary>A dwell threshold for one zone (by name).</summary>
public sealed class LoiterRule
{
    public string Zone { get; set; } = "";

    [Range(1.0, 86_400_000.0)]
    public double AfterMs { get; set; } = 30_000;
}

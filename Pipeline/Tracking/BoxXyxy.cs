using System.Numerics;

namespace Edge.Pipeline.Tracking;

/// <summary>An axis-aligned box in frame pixels: left, top, right, bottom (x grows right, y grows down).</summary>
public readonly record struct BoxXyxy(float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;

    public float Height => Y2 - Y1;

    public float Area => Math.Max(0, Width) * Math.Max(0, Height);

    public Vector2 Centre => new((X1 + X2) / 2, (Y1 + Y2) / 2);

    /// <summary>Where a standing person touches the ground: the point zones and lines are judged by.</summary>
    public Vector2 BottomCentre => new((X1 + X2) / 2, Y2);

    /// <summary>The box of <see cref="DetectedObject.BoxXyxy"/> (four integers).</summary>
    public static BoxXyxy From(IReadOnlyList<int> xyxy) =>
        xyxy.Count == 4 ? new(xyxy[0], xyxy[1], xyxy[2], xyxy[3]) : throw new ArgumentException($"a box has 4 coordinates, not {xyxy.Count}", nameof(xyxy));

    public static BoxXyxy FromCentre(float cx, float cy, float width, float height) =>
        new(cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2);

    /// <summary>Intersection over union; 0 when either box is empty.</summary>
    public static float Iou(in BoxXyxy a, in BoxXyxy b)
    {
        var w = Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1);
        var h = Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }
        var inter = w * h;
        var union = a.Area + b.Area - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>Rounded to whole pixels, in the layout of <see cref="DetectedObject.BoxXyxy"/>.</summary>
    public int[] ToIntArray() => [(int)MathF.Round(X1), (int)MathF.Round(Y1), (int)MathF.Round(X2), (int)MathF.Round(Y2)];
}

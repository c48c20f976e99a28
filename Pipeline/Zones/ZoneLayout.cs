using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Numerics;

namespace Edge.Pipeline.Zones;

/// <summary>A zone layout that cannot be used; the message lists every problem found.</summary>
public sealed class ZoneLayoutException(IReadOnlyList<string> errors)
    : Exception("invalid zones: " + string.Join("; ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>A checked polygon. <see cref="LoiterMs"/> comes from the layout's loiter rule for it, if any.</summary>
public sealed class Zone
{
    internal Zone(string name, Vector2[] polygon, double? loiterMs)
    {
        Name = name;
        Polygon = polygon;
        LoiterMs = loiterMs;
    }

    public string Name { get; }

    public IReadOnlyList<Vector2> Polygon { get; }

    public double? LoiterMs { get; }

    /// <summary>Whether the point lies inside (even-odd rule; points exactly on the border may go either way).</summary>
    public bool Contains(Vector2 p) => PlaneGeometry.Contains(Polygon, p);

    /// <summary>Distance from the point to the nearest edge, in pixels.</summary>
    public float DistanceToBorder(Vector2 p) => PlaneGeometry.DistanceToPolyline(Polygon, p, closed: true);
}

/// <summary>A checked directed segment; see <see cref="LineOptions"/> for which side is left.</summary>
public sealed class CountingLine
{
    internal CountingLine(string name, Vector2 from, Vector2 to)
    {
        Name = name;
        From = from;
        To = to;
    }

    public string Name { get; }

    public Vector2 From { get; }

    public Vector2 To { get; }

    /// <summary>Distance of the point from the infinite line, positive on the right (see <see cref="LineOptions"/>).</summary>
    public float SignedDistance(Vector2 p) => PlaneGeometry.Cross(To - From, p - From) / Vector2.Distance(From, To);

    /// <summary>Whether the path from <paramref name="a"/> to <paramref name="b"/> meets the segment (ends included).</summary>
    public bool IsCrossedBy(Vector2 a, Vector2 b) => PlaneGeometry.SegmentsIntersect(a, b, From, To);
}

/// <summary>
/// One stream's zones and lines, checked against the frame size: immutable, shareable between the monitor and
/// whoever draws them.
/// </summary>
public sealed class ZoneLayout
{
    private ZoneLayout(ZoneLayoutOptions options, IReadOnlyList<Zone> zones, IReadOnlyList<CountingLine> lines)
    {
        Options = options;
        Zones = zones;
        Lines = lines;
    }

    public ZoneLayoutOptions Options { get; }

    public IReadOnlyList<Zone> Zones { get; }

    public IReadOnlyList<CountingLine> Lines { get; }

    /// <summary>A layout with no zones and no lines: the monitor then does nothing.</summary>
    public static ZoneLayout Empty(ZoneLayoutOptions? options = null) => new(options ?? new ZoneLayoutOptions(), [], []);

    /// <summary>Checks the options and builds the layout; throws <see cref="ZoneLayoutException"/> listing every problem.</summary>
    public static ZoneLayout Create(ZoneLayoutOptions options, int frameWidth, int frameHeight)
    {
        var errors = Check(options, frameWidth, frameHeight);
        if (errors.Count > 0)
        {
            throw new ZoneLayoutException(errors);
        }
        var loiter = options.Loitering.ToDictionary(r => r.Zone, r => r.AfterMs, StringComparer.Ordinal);
        return new ZoneLayout(options,
            [.. options.Zones.Select(z => new Zone(z.Name, ToPoints(z.Points), loiter.TryGetValue(z.Name, out var ms) ? ms : null))],
            [.. options.Lines.Select(l => new CountingLine(l.Name, ToPoint(l.Points[0]), ToPoint(l.Points[1])))]);
    }

    /// <summary>
    /// Every problem with the options, each a sentence naming the zone, line or rule: ranges, empty or duplicate
    /// names, too few points, a polygon that crosses itself or has no area, a line of zero length, a loiter rule for an
    /// unknown zone, and, when the frame size is given, a point outside the frame. Empty when the layout is usable.
    /// </summary>
    public static IReadOnlyList<string> Check(ZoneLayoutOptions options, int? frameWidth = null, int? frameHeight = null)
    {
        var errors = new List<string>();
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        errors.AddRange(results.Select(r => $"{ZoneLayoutOptions.Section}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));

        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        void Name(string kind, int index, string? name)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add($"{kind} {index} has no name");
            }
            else if (names.TryGetValue(name, out var earlier))
            {
                errors.Add($"the name '{name}' is used twice ({earlier} and {kind} {index}): zone and line names must be unique");
            }
            else
            {
                names[name] = $"{kind} {index}";
            }
        }

        for (var i = 0; i < options.Zones.Length; i++)
        {
            var zone = options.Zones[i];
            Name("zone", i, zone.Name);
            var label = $"zone '{zone.Name}'";
            if (!PointsOk(label, zone.Points, frameWidth, frameHeight, errors))
            {
                continue;
            }
            if (zone.Points.Length < 3)
            {
                errors.Add($"{label} has {zone.Points.Length} points: a polygon needs at least 3");
                continue;
            }
            var polygon = ToPoints(zone.Points);
            var repeated = Enumerable.Range(0, polygon.Length).FirstOrDefault(k => polygon[k] == polygon[(k + 1) % polygon.Length], -1);
            if (repeated >= 0)
            {
                errors.Add($"{label} repeats point {repeated} ({Format(polygon[repeated])}) as its next point");
            }
            else if (PlaneGeometry.AllOnOneLine(polygon))
            {
                errors.Add($"{label} has no area: its points lie on one line");
            }
            else if (PlaneGeometry.FirstSelfIntersection(polygon) is { } crossing)
            {
                errors.Add($"{label} crosses itself: edge {crossing.A} ({Format(polygon[crossing.A])}–{Format(polygon[(crossing.A + 1) % polygon.Length])}) meets edge {crossing.B} ({Format(polygon[crossing.B])}–{Format(polygon[(crossing.B + 1) % polygon.Length])})");
            }
            else if (Math.Abs(PlaneGeometry.Area(polygon)) < 1)
            {
                errors.Add($"{label} has no area (less than one square pixel)");
            }
        }

        for (var i = 0; i < options.Lines.Length; i++)
        {
            var line = options.Lines[i];
            Name("line", i, line.Name);
            var label = $"line '{line.Name}'";
            if (!PointsOk(label, line.Points, frameWidth, frameHeight, errors))
            {
                continue;
            }
            if (line.Points.Length != 2)
            {
                errors.Add($"{label} has {line.Points.Length} points: a line is exactly two, [from, to]");
            }
            else if (Vector2.Distance(ToPoint(line.Points[0]), ToPoint(line.Points[1])) < 1)
            {
                errors.Add($"{label} has zero length: its two points are the same ({Format(ToPoint(line.Points[0]))})");
            }
        }

        var zoneNames = options.Zones.Select(z => z.Name).ToHashSet(StringComparer.Ordinal);
        var ruled = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in options.Loitering)
        {
            if (!zoneNames.Contains(rule.Zone))
            {
                errors.Add($"a loiter rule names the unknown zone '{rule.Zone}' (zones: {(zoneNames.Count == 0 ? "none" : string.Join(", ", zoneNames.Order(StringComparer.Ordinal)))})");
            }
            else if (!ruled.Add(rule.Zone))
            {
                errors.Add($"zone '{rule.Zone}' has two loiter rules");
            }
            var ruleResults = new List<ValidationResult>();
            if (!Validator.TryValidateObject(rule, new ValidationContext(rule), ruleResults, validateAllProperties: true))
            {
                errors.AddRange(ruleResults.Select(r => $"the loiter rule for zone '{rule.Zone}': {r.ErrorMessage}"));
            }
        }
        return errors;
    }

    private static bool PointsOk(string label, double[][]? points, int? width, int? height, List<string> errors)
    {
        if (points is null || points.Length == 0)
        {
            errors.Add($"{label} has no points");
            return false;
        }
        var ok = true;
        for (var p = 0; p < points.Length; p++)
        {
            var point = points[p];
            if (point is null || point.Length != 2 || !double.IsFinite(point[0]) || !double.IsFinite(point[1]))
            {
                errors.Add($"{label}: point {p} must be two finite numbers [x, y]");
                ok = false;
            }
            else if (width is { } w && height is { } h && (point[0] < 0 || point[0] > w || point[1] < 0 || point[1] > h))
            {
                errors.Add($"{label}: point {p} ({Format(ToPoint(point))}) lies outside the {w}×{h} frame");
                ok = false;
            }
        }
        return ok;
    }

    private static Vector2 ToPoint(double[] xy) => new((float)xy[0], (float)xy[1]);

    private static Vector2[] ToPoints(double[][] points) => [.. points.Select(ToPoint)];

    private static string Format(Vector2 p) => string.Create(CultureInfo.InvariantCulture, $"{p.X:0.#}, {p.Y:0.#}");
}

/// <summary>Plane geometry on float points (x right, y down).</summary>
internal static class PlaneGeometry
{
    /// <summary>z of the cross product: positive when <paramref name="b"/> turns clockwise from <paramref name="a"/> on screen (y down).</summary>
    public static float Cross(Vector2 a, Vector2 b) => a.X * b.Y - a.Y * b.X;

    /// <summary>Signed area (shoelace).</summary>
    public static double Area(IReadOnlyList<Vector2> polygon)
    {
        double sum = 0;
        for (var i = 0; i < polygon.Count; i++)
        {
            var (a, b) = (polygon[i], polygon[(i + 1) % polygon.Count]);
            sum += (double)a.X * b.Y - (double)b.X * a.Y;
        }
        return sum / 2;
    }

    public static bool Contains(IReadOnlyList<Vector2> polygon, Vector2 p)
    {
        var inside = false;
        for (int i = 0, j = polygon.Count - 1; i < polygon.Count; j = i++)
        {
            var (a, b) = (polygon[i], polygon[j]);
            if ((a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X - a.X) * (p.Y - a.Y) / (b.Y - a.Y) + a.X)
            {
                inside = !inside;
            }
        }
        return inside;
    }

    public static float DistanceToPolyline(IReadOnlyList<Vector2> points, Vector2 p, bool closed)
    {
        var best = float.PositiveInfinity;
        var edges = closed ? points.Count : points.Count - 1;
        for (var i = 0; i < edges; i++)
        {
            best = Math.Min(best, DistanceToSegment(points[i], points[(i + 1) % points.Count], p));
        }
        return best;
    }

    public static float DistanceToSegment(Vector2 a, Vector2 b, Vector2 p)
    {
        var ab = b - a;
        var lengthSquared = ab.LengthSquared();
        var t = lengthSquared > 0 ? Math.Clamp(Vector2.Dot(p - a, ab) / lengthSquared, 0, 1) : 0;
        return Vector2.Distance(p, a + t * ab);
    }

    /// <summary>Whether segments pq and rs share a point (touching and collinear overlap included).</summary>
    public static bool SegmentsIntersect(Vector2 p, Vector2 q, Vector2 r, Vector2 s)
    {
        var d1 = Orientation(r, s, p);
        var d2 = Orientation(r, s, q);
        var d3 = Orientation(p, q, r);
        var d4 = Orientation(p, q, s);
        if (d1 * d2 < 0 && d3 * d4 < 0)
        {
            return true;
        }
        return (d1 == 0 && OnSegment(r, s, p)) || (d2 == 0 && OnSegment(r, s, q))
            || (d3 == 0 && OnSegment(p, q, r)) || (d4 == 0 && OnSegment(p, q, s));
    }

    public static bool AllOnOneLine(Vector2[] points) =>
        points.All(p => Orientation(points[0], points[1], p) == 0);

    /// <summary>The first pair of edges (by start vertex) that meet other than at a shared corner, or null.</summary>
    public static (int A, int B)? FirstSelfIntersection(Vector2[] polygon)
    {
        var n = polygon.Length;
        for (var i = 0; i < n; i++)
        {
            var (a1, a2) = (polygon[i], polygon[(i + 1) % n]);
            if (a1 == a2)
            {
                return (i, (i + 1) % n);
            }
            for (var j = i + 1; j < n; j++)
            {
                var (b1, b2) = (polygon[j], polygon[(j + 1) % n]);
                var adjacent = j == i + 1 || (i == 0 && j == n - 1);
                if (adjacent)
                {
                    // Neighbours share a corner; they cross only by folding back onto each other.
                    var shared = j == i + 1 ? a2 : a1;
                    var (other1, other2) = j == i + 1 ? (a1, b2) : (a2, b1);
                    if (Orientation(shared, other1, other2) == 0 && Vector2.Dot(other1 - shared, other2 - shared) > 0)
                    {
                        return (i, j);
                    }
                }
                else if (SegmentsIntersect(a1, a2, b1, b2))
                {
                    return (i, j);
                }
            }
        }
        return null;
    }

    private static int Orientation(Vector2 a, Vector2 b, Vector2 c)
    {
        var v = (double)(b.X - a.X) * (c.Y - a.Y) - (double)(b.Y - a.Y) * (c.X - a.X);
        return v > 1e-9 ? 1 : v < -1e-9 ? -1 : 0;
    }

    private static bool OnSegment(Vector2 a, Vector2 b, Vector2 p) =>
        p.X >= Math.Min(a.X, b.X) && p.X <= Math.Max(a.X, b.X) && p.Y >= Math.Min(a.Y, b.Y) && p.Y <= Math.Max(a.Y, b.Y);
}

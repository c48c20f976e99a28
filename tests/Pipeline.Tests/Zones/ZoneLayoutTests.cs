using System.Numerics;
using Edge.Pipeline.Zones;

namespace Edge.Pipeline.Tests.Zones;

public sealed class ZoneLayoutTests
{
    private static readonly double[][] s_square = [[100, 100], [300, 100], [300, 300], [100, 300]];

    public static TheoryData<ZoneLayoutOptions, string> BadLayouts => new()
    {
        { Layout(zones: [Zone("bow", [[100, 100], [300, 300], [300, 100], [100, 300]])]), "zone 'bow' crosses itself: edge 0 (100, 100–300, 300) meets edge 2 (300, 100–100, 300)" },
        { Layout(zones: [Zone("spike", [[100, 100], [300, 100], [200, 100], [200, 300]])]), "zone 'spike' crosses itself" },
        { Layout(zones: [Zone("flat", [[100, 100], [200, 100], [300, 100]])]), "zone 'flat' has no area: its points lie on one line" },
        { Layout(zones: [Zone("again", [[100, 100], [200, 100], [200, 100], [200, 200]])]), "zone 'again' repeats point 1 (200, 100) as its next point" },
        { Layout(zones: [Zone("two", [[100, 100], [200, 100]])]), "zone 'two' has 2 points: a polygon needs at least 3" },
        { Layout(zones: [Zone("away", [[100, 100], [900, 100], [900, 300]])]), "zone 'away': point 1 (900, 100) lies outside the 640×480 frame" },
        { Layout(zones: [Zone("odd", [[100, 100], [200], [300, 300]])]), "zone 'odd': point 1 must be two finite numbers [x, y]" },
        { Layout(zones: [Zone("", s_square)]), "zone 0 has no name" },
        { Layout(lines: [Line("door", [[100, 100], [100, 100]])]), "line 'door' has zero length: its two points are the same (100, 100)" },
        { Layout(lines: [Line("door", [[100, 100], [200, 100], [300, 100]])]), "line 'door' has 3 points: a line is exactly two, [from, to]" },
        { Layout(lines: [Line("door", [[100, -5], [100, 100]])]), "line 'door': point 0 (100, -5) lies outside the 640×480 frame" },
        { Layout(zones: [Zone("dock", s_square)], lines: [Line("dock", [[0, 0], [10, 10]])]), "the name 'dock' is used twice (zone 0 and line 0)" },
        { Layout(zones: [Zone("dock", s_square), Zone("dock", s_square)]), "the name 'dock' is used twice (zone 0 and zone 1)" },
        { Layout(zones: [Zone("dock", s_square)], loiter: [new LoiterRule { Zone = "Dock", AfterMs = 1000 }]), "a loiter rule names the unknown zone 'Dock' (zones: dock)" },
        { Layout(loiter: [new LoiterRule { Zone = "dock", AfterMs = 1000 }]), "a loiter rule names the unknown zone 'dock' (zones: none)" },
        { Layout(zones: [Zone("dock", s_square)], loiter: [new LoiterRule { Zone = "dock", AfterMs = 0 }]), "the loiter rule for zone 'dock': The field AfterMs must be between" },
        { Layout(zones: [Zone("dock", s_square)], loiter: [new LoiterRule { Zone = "dock" }, new LoiterRule { Zone = "dock" }]), "zone 'dock' has two loiter rules" },
        { new ZoneLayoutOptions { HysteresisPx = -1 }, "Zones:HysteresisPx" },
    };

    [Theory]
    [MemberData(nameof(BadLayouts))]
    public void Create_BadLayout_ErrorNamesTheProblem(ZoneLayoutOptions options, string expected)
    {
        var error = Assert.Throws<ZoneLayoutException>(() => ZoneLayout.Create(options, 640, 480));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(error.Errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Check_WithoutFrameSize_ShapesAndNamesCheckedBoundsLeftForLater()
    {
        var options = Layout(zones: [Zone("far", [[1000, 1000], [2000, 1000], [2000, 2000]])]);

        Assert.Empty(ZoneLayout.Check(options));
        Assert.Equal(3, ZoneLayout.Check(options, 640, 480).Count(e => e.Contains("lies outside the 640×480 frame", StringComparison.Ordinal)));
    }

    [Fact]
    public void Create_GoodLayout_ZonesLinesAndLoiterRulesCompiled()
    {
        var options = Layout(
            zones: [Zone("dock", s_square), Zone("yard", [[400, 200], [600, 200], [500, 400]])],
            lines: [Line("door", [[320, 479], [320, 200]])],
            loiter: [new LoiterRule { Zone = "yard", AfterMs = 5_000 }]);

        var layout = ZoneLayout.Create(options, 640, 480);

        Assert.Equal(["dock", "yard"], layout.Zones.Select(z => z.Name));
        Assert.Equal([null, 5_000.0], layout.Zones.Select(z => z.LoiterMs));
        Assert.True(layout.Zones[0].Contains(new Vector2(200, 200)));
        Assert.False(layout.Zones[0].Contains(new Vector2(350, 200)));
        Assert.Equal(50, layout.Zones[0].DistanceToBorder(new Vector2(350, 200)), 3);
        var door = Assert.Single(layout.Lines);
        // Drawn bottom to top: the screen's right is the line's right.
        Assert.True(door.SignedDistance(new Vector2(400, 300)) > 0);
        Assert.True(door.IsCrossedBy(new Vector2(300, 300), new Vector2(340, 310)));
        Assert.False(door.IsCrossedBy(new Vector2(300, 150), new Vector2(340, 150)));
    }

    private static ZoneLayoutOptions Layout(ZoneOptions[]? zones = null, LineOptions[]? lines = null, LoiterRule[]? loiter = null) =>
        new() { Zones = zones ?? [], Lines = lines ?? [], Loitering = loiter ?? [] };

    private static ZoneOptions Zone(string name, double[][] points) => new() { Name = name, Points = points };

    private static LineOptions Line(string name, double[][] points) => new() { Name = name, Points = points };
}

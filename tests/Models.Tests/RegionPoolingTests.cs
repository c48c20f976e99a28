namespace Edge.Models.Tests;

/// <summary>Region pooling on a small grid whose cells hold known vectors.</summary>
public sealed class RegionPoolingTests
{
    // A 4 × 3 grid (width 4, height 3) of 2 channels over a 400 × 300 frame: each cell is 100 × 100 pixels; cell
    // (row, col) holds (10·row + col, 1).
    private static readonly GridDescription s_grid = new("grid", Channels: 2, Height: 3, Width: 4, Layer: "test");

    private static float[] Grid()
    {
        var grid = new float[s_grid.Size];
        for (var row = 0; row < 3; row++)
        {
            for (var col = 0; col < 4; col++)
            {
                grid[(row * 4 + col) * 2] = 10 * row + col;
                grid[(row * 4 + col) * 2 + 1] = 1;
            }
        }
        return grid;
    }

    private static float[] Pool(int x1, int y1, int x2, int y2)
    {
        var output = new float[2];
        RegionPooling.Pool(Grid(), s_grid, 400, 300, x1, y1, x2, y2, output);
        return output;
    }

    [Fact]
    public void Pool_BoxInsideOneCell_IsThatCell()
    {
        Assert.Equal([12f, 1f], Pool(210, 120, 260, 190));
        // Smaller than a tenth of a cell: still the cell it lies in.
        Assert.Equal([12f, 1f], Pool(250, 150, 251, 151));
    }

    [Fact]
    public void Pool_BoxOverCells_WeighsEachByTheShareItCovers()
    {
        // Half of cell (0,0) and all of (0,1): (0·50 + 1·100) / 150.
        var pooled = Pool(50, 0, 200, 100);
        Assert.Equal(100f / 150, pooled[0], 1e-5f);
        Assert.Equal(1f, pooled[1], 1e-5f);
        // The whole frame: the mean of all cells, as the embedding is the mean of its grid.
        Assert.Equal(Enumerable.Range(0, 3).SelectMany(r => Enumerable.Range(0, 4).Select(c => 10f * r + c)).Average(), Pool(0, 0, 400, 300)[0], 1e-4f);
    }

    [Fact]
    public void Pool_BoxBeyondTheFrame_IsClampedToIt()
    {
        Assert.Equal(Pool(300, 200, 400, 300), Pool(300, 200, 900, 700));
        Assert.Equal([23f, 1f], Pool(300, 200, 900, 700));
    }

    [Fact]
    public void Pool_WrongSizes_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => RegionPooling.Pool(new float[3], s_grid, 400, 300, 0, 0, 10, 10, new float[2]));
        Assert.Throws<ArgumentException>(() => RegionPooling.Pool(Grid(), s_grid, 400, 300, 0, 0, 10, 10, new float[3]));
    }
}

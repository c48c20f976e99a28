namespace Edge.Models;

/// <summary>
/// Optimal linear assignment (the Hungarian method with row and column potentials and shortest augmenting paths, as
/// Jonker and Volgenant formulate it), shared by the tracker (detections to tracks) and tracking evaluation
/// (CLEAR-MOT per-frame matching, IDF1's global identity matching). O(n³) in the larger side; the tracker's matrices
/// are tens of rows.
/// </summary>
public static class LinearAssignment
{
    /// <summary>
    /// The assignment of rows to columns with the smallest total cost that matches as many rows as possible, where
    /// an infinite or NaN cost forbids a pair. Rows and columns may differ in number. Returns, for each row, its
    /// column or -1.
    /// </summary>
    public static int[] Solve(double[,] costs)
    {
        var (rows, columns) = (costs.GetLength(0), costs.GetLength(1));
        if (rows == 0 || columns == 0)
        {
            return Enumerable.Repeat(-1, rows).ToArray();
        }
        var big = ForbiddenCost(costs, 0);
        // Square with free dummy rows or columns: every real row or column can always be matched to something.
        var n = Math.Max(rows, columns);
        var square = new double[n, n];
        for (var i = 0; i < rows; i++)
        {
            for (var j = 0; j < columns; j++)
            {
                square[i, j] = Allowed(costs[i, j]) ? costs[i, j] : big;
            }
        }
        var assigned = SolveSquare(square);
        var result = new int[rows];
        for (var i = 0; i < rows; i++)
        {
            var j = assigned[i];
            result[i] = j < columns && Allowed(costs[i, j]) ? j : -1;
        }
        return result;
    }

    /// <summary>
    /// The assignment that minimises the cost of the matched pairs plus <paramref name="maxCost"/>/2 for every row and
    /// every column left unmatched: a pair is matched only when that is cheaper than leaving both of its ends alone,
    /// so no matched pair costs more than <paramref name="maxCost"/> (the cost limit of lapjv as trackers use it).
    /// Infinite or NaN costs forbid a pair. Returns, for each row, its column or -1.
    /// </summary>
    public static int[] Solve(double[,] costs, double maxCost)
    {
        if (!double.IsFinite(maxCost))
        {
            throw new ArgumentOutOfRangeException(nameof(maxCost), maxCost, "the cost limit must be finite");
        }
        var (rows, columns) = (costs.GetLength(0), costs.GetLength(1));
        if (rows == 0 || columns == 0)
        {
            return Enumerable.Repeat(-1, rows).ToArray();
        }
        var half = maxCost / 2;
        var big = ForbiddenCost(costs, Math.Abs(half));
        // Rows 0..rows-1 are real, then one dummy row per column; columns 0..columns-1 are real, then one dummy
        // column per row. A real row may go to its own dummy column (unmatched, cost half); a real column may take its
        // own dummy row (unmatched, cost half); dummy rows and dummy columns meet at no cost.
        var n = rows + columns;
        var square = new double[n, n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                square[i, j] = (i < rows, j < columns) switch
                {
                    (true, true) => Allowed(costs[i, j]) && costs[i, j] <= big ? costs[i, j] : big,
                    (true, false) => j - columns == i ? half : big,
                    (false, true) => i - rows == j ? half : big,
                    (false, false) => 0,
                };
            }
        }
        var assigned = SolveSquare(square);
        var result = new int[rows];
        for (var i = 0; i < rows; i++)
        {
            var j = assigned[i];
            result[i] = j < columns && Allowed(costs[i, j]) && costs[i, j] <= maxCost ? j : -1;
        }
        return result;
    }

    private static bool Allowed(double cost) => double.IsFinite(cost);

    /// <summary>A finite cost larger than any whole assignment of allowed pairs, standing in for a forbidden pair.</summary>
    private static double ForbiddenCost(double[,] costs, double extra)
    {
        var total = extra * (costs.GetLength(0) + costs.GetLength(1));
        foreach (var c in costs)
        {
            total += Allowed(c) ? Math.Abs(c) : 0;
        }
        return 2 * total + 1;
    }

    /// <summary>
    /// Minimum-cost perfect matching of a square matrix: for each row the column assigned to it. Potentials u, v keep
    /// reduced costs non-negative; each row is added by a Dijkstra-like search for the shortest augmenting path.
    /// </summary>
    private static int[] SolveSquare(double[,] a)
    {
        var n = a.GetLength(0);
        // 1-based with index 0 as the virtual start column, as in the textbook formulation.
        var u = new double[n + 1];
        var v = new double[n + 1];
        var rowOfColumn = new int[n + 1];
        var way = new int[n + 1];
        var minReduced = new double[n + 1];
        var used = new bool[n + 1];
        for (var i = 1; i <= n; i++)
        {
            rowOfColumn[0] = i;
            var j0 = 0;
            Array.Fill(minReduced, double.PositiveInfinity);
            Array.Fill(used, false);
            do
            {
                used[j0] = true;
                var i0 = rowOfColumn[j0];
                var delta = double.PositiveInfinity;
                var j1 = 0;
                for (var j = 1; j <= n; j++)
                {
                    if (used[j])
                    {
                        continue;
                    }
                    var reduced = a[i0 - 1, j - 1] - u[i0] - v[j];
                    if (reduced < minReduced[j])
                    {
                        minReduced[j] = reduced;
                        way[j] = j0;
                    }
                    if (minReduced[j] < delta)
                    {
                        delta = minReduced[j];
                        j1 = j;
                    }
                }
                for (var j = 0; j <= n; j++)
                {
                    if (used[j])
                    {
                        u[rowOfColumn[j]] += delta;
                        v[j] -= delta;
                    }
                    else
                    {
                        minReduced[j] -= delta;
                    }
                }
                j0 = j1;
            }
            while (rowOfColumn[j0] != 0);
            do
            {
                var j1 = way[j0];
                rowOfColumn[j0] = rowOfColumn[j1];
                j0 = j1;
            }
            while (j0 != 0);
        }
        var columnOfRow = new int[n];
        for (var j = 1; j <= n; j++)
        {
            columnOfRow[rowOfColumn[j] - 1] = j - 1;
        }
        return columnOfRow;
    }
}

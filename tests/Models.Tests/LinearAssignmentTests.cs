using Edge.Models;

namespace Edge.Models.Tests;

public sealed class LinearAssignmentTests
{
    private const double Inf = double.PositiveInfinity;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 3)]
    [InlineData(6, 6)]
    [InlineData(2, 5)]
    [InlineData(5, 2)]
    [InlineData(4, 7)]
    public void Solve_RandomMatrices_SameTotalAsBruteForce(int rows, int columns)
    {
        var random = new Random(rows * 100 + columns);
        for (var trial = 0; trial < 40; trial++)
        {
            var costs = Random(random, rows, columns, forbidden: 0.25, negative: trial % 2 == 0);

            var assignment = LinearAssignment.Solve(costs);

            AssertValid(assignment, columns);
            Assert.All(assignment.Select((c, r) => (c, r)).Where(p => p.c >= 0), p => Assert.True(double.IsFinite(costs[p.r, p.c])));
            var (bestMatched, bestCost) = BruteForce(costs, unmatched: null);
            var matched = assignment.Count(c => c >= 0);
            Assert.Equal(bestMatched, matched);
            Assert.Equal(bestCost, Total(costs, assignment), 9);
        }
    }

    [Theory]
    [InlineData(3, 3, 0.6)]
    [InlineData(4, 6, 0.5)]
    [InlineData(6, 3, 0.8)]
    [InlineData(5, 5, 0.0)]
    public void Solve_WithCostLimit_MinimisesMatchedCostPlusHalfLimitPerUnmatchedEnd(int rows, int columns, double maxCost)
    {
        var random = new Random(rows * 31 + columns);
        for (var trial = 0; trial < 40; trial++)
        {
            var costs = Random(random, rows, columns, forbidden: 0.2, negative: maxCost == 0);

            var assignment = LinearAssignment.Solve(costs, maxCost);

            AssertValid(assignment, columns);
            var matched = assignment.Count(c => c >= 0);
            var objective = Total(costs, assignment) + maxCost / 2 * (rows - matched + columns - matched);
            var (_, best) = BruteForce(costs, unmatched: maxCost / 2);
            Assert.Equal(best, objective, 9);
            Assert.All(assignment.Select((c, r) => (c, r)).Where(p => p.c >= 0), p => Assert.True(costs[p.r, p.c] <= maxCost));
        }
    }

    [Fact]
    public void Solve_OnlyAFullMatchingUsesAnExpensivePair_CardinalityFirstWithoutLimit()
    {
        // Row 0 can take either column, row 1 only column 0: without a limit both rows are matched (0→1, 1→0)
        // although 0→0 alone is cheaper; with a limit of 1 the expensive pair is not worth it.
        double[,] costs = { { 0.1, 0.9 }, { 0.2, Inf } };

        Assert.Equal([1, 0], LinearAssignment.Solve(costs));
        Assert.Equal([0, -1], LinearAssignment.Solve(costs, maxCost: 0.5));
    }

    [Fact]
    public void Solve_EmptyOrAllForbidden_NothingAssigned()
    {
        Assert.Empty(LinearAssignment.Solve(new double[0, 3]));
        Assert.Equal([-1, -1], LinearAssignment.Solve(new double[2, 0]));
        Assert.Equal([-1, -1], LinearAssignment.Solve(new double[,] { { Inf, double.NaN }, { Inf, Inf } }));
        Assert.Equal([-1, -1], LinearAssignment.Solve(new double[,] { { Inf, 2 }, { 3, Inf } }, maxCost: 1));
    }

    private static double[,] Random(Random random, int rows, int columns, double forbidden, bool negative)
    {
        var costs = new double[rows, columns];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                costs[r, c] = random.NextDouble() < forbidden ? Inf : Math.Round(random.NextDouble() * (negative ? -2 : 1), 3);
            }
        }
        return costs;
    }

    private static void AssertValid(int[] assignment, int columns)
    {
        var used = assignment.Where(c => c >= 0).ToList();
        Assert.All(used, c => Assert.InRange(c, 0, columns - 1));
        Assert.Equal(used.Count, used.Distinct().Count());
    }

    private static double Total(double[,] costs, int[] assignment) =>
        assignment.Select((c, r) => c >= 0 ? costs[r, c] : 0).Sum();

    /// <summary>
    /// Every partial injective map of rows to allowed columns. Without <paramref name="unmatched"/>: the most pairs,
    /// then the least cost. With it: the least cost plus that much per unmatched row and column.
    /// </summary>
    private static (int Matched, double Cost) BruteForce(double[,] costs, double? unmatched)
    {
        var (rows, columns) = (costs.GetLength(0), costs.GetLength(1));
        var best = (Matched: -1, Cost: double.PositiveInfinity);
        var used = new bool[columns];
        void Visit(int row, int matched, double cost)
        {
            if (row == rows)
            {
                var total = unmatched is { } u ? cost + u * (rows - matched + columns - matched) : cost;
                var better = unmatched is null
                    ? matched > best.Matched || (matched == best.Matched && total < best.Cost - 1e-12)
                    : total < best.Cost - 1e-12;
                if (better)
                {
                    best = (matched, total);
                }
                return;
            }
            Visit(row + 1, matched, cost);
            for (var c = 0; c < columns; c++)
            {
                if (!used[c] && double.IsFinite(costs[row, c]))
                {
                    used[c] = true;
                    Visit(row + 1, matched + 1, cost + costs[row, c]);
                    used[c] = false;
                }
            }
        }
        Visit(0, 0, 0);
        return best;
    }
}

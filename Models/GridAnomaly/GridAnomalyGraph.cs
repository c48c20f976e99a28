using Edge.Models.Onnx;

namespace Edge.Models.GridAnomaly;

/// <summary>
/// Writes the default anomaly model as one ONNX graph with Edge's writer (<see cref="OnnxGraphBuilder"/>): input
/// "features" [N, F, E + H·W·C (+ H·W·2)] (F consecutive frames, <see cref="GridAnomalyParameters.InputFrames"/>: the
/// previous and the current, and the one before them for a model with the repeat term; each its embedding followed by
/// its grid and, for a model with the pace term, its cells' flow, <see cref="FlowFeatures"/>) and "gaps" [N] (between
/// the two newest), outputs "score" [N]
/// (the raw score of the newer frame, put on the calibrated scale by the manifest's <see cref="ModelManifest.Anomaly"/>)
/// and "cells" [N, H, W] (the cell map, 1 = the p99 of normal cells; the patch term weighs moving cells less, the map
/// does not). It computes what <see cref="GridAnomalyScorer"/>
/// computes; nearest-memory searches are matrix products (‖x‖² + ‖m‖² − 2·x·m), quantiles are TopK.
/// </summary>
public static class GridAnomalyGraph
{
    public const string InputName = "features";
    public const string ScoreName = "score";
    public const string CellsName = "cells";
    public const string GapsName = "gaps";

    public static OnnxGraphBuilder Build(GridAnomalyParameters p, string name)
    {
        var o = p.Options;
        var (e, cells, c, d, g) = (p.EmbeddingSize, p.Cells, p.Grid.Channels, o.ProjectedChannels, p.Grid.Size);
        var frames = p.InputFrames;
        var newest = frames - 1;
        var b = new OnnxGraphBuilder(name,
            $"Edge anomaly model: frame, patch (with residual), still and motion terms{(p.ReadsFlow ? " and pace from the cells' flow" : "")}{(p.RepeatWeight > 0 ? ", repeat from the frame pair before" : "")} over {p.Grid.Height}x{p.Grid.Width}x{c} grids and {e}-d embeddings");
        var input = b.Input(InputName, null, frames, p.FeatureSize);
        var gaps = b.Input(GapsName, new long?[] { null }); // [N]: learned frame intervals between the two newest frames, 1 = consecutive
        var axis1 = OnnxGraphBuilder.Int("axis", 1);

        // Frame term: the newer frame's unit embedding against the frame memory.
        var embedding = b.Node("Squeeze", [Slice(b, input, [newest, 0], [newest + 1, e], "embedding"), b.Int64Initializer("axis_1", 1)]); // [N, E]
        var unit = b.Node("Div", [embedding, b.Node("Sqrt", [SumOfSquares(b, embedding, 1, keep: true)])]);
        var frame = Nearest(b, unit, p.FrameMemory, p.FrameCount, e, "frame", 1); // [N]

        // Grids, centred and projected: [N, F, H·W, D].
        var grids = b.Node("Reshape", [Slice(b, input, [0, e], [frames, e + g], "grids"),
            b.Int64Initializer("grids_shape", -1, frames, cells, c)]);
        var centred = b.Node("Sub", [grids, b.Initializer("channel_mean", p.ChannelMean, c)]);
        var projected = b.Node("MatMul", [centred, b.Initializer("projection", p.Projection, c, d)]);
        var now = b.Node("Gather", [projected, b.Int64Scalar("newer", newest)], axis1); // [N, H·W, D]
        var before = b.Node("Gather", [projected, b.Int64Scalar("older", newest - 1)], axis1);

        // Patch term: each cell (projected, then its weighted residual outside the principal directions) against the
        // patch memory; the mean of the TopK largest distances.
        var cellFeatures = now;
        if (o.ResidualWeight > 0)
        {
            var newer = b.Node("Gather", [centred, b.Int64Scalar("newer_centred", newest)], axis1); // [N, H·W, C]
            var inside = b.Node("ReduceSum", [b.Node("Mul", [b.Node("Mul", [now, now]), b.Initializer("principal_variances", p.PrincipalVariances, d)]),
                b.Int64Initializer("sum_axis", 2)], OnnxGraphBuilder.Int("keepdims", 1)); // ‖x − μ‖² inside the principal directions
            var residual = b.Node("Sqrt", [b.Relu(b.Node("Div", [b.Node("Sub", [SumOfSquares(b, newer, 2, keep: true), inside]),
                b.Initializer("residual_scale", [p.ResidualScale / (o.ResidualWeight * o.ResidualWeight)])]))]); // [N, H·W, 1]
            cellFeatures = b.Node("Concat", [now, residual], OnnxGraphBuilder.Int("axis", 2));
        }
        var distances = Nearest(b, cellFeatures, p.PatchMemory, p.PatchCount, o.CellWidth, "patch", 2); // [N, H·W]
        var flow = p.ReadsFlow ? NewerFlow(b, p, input) : null; // [N, H·W, 2]
        var ranked = distances;
        if (flow is not null && p.MovingCellWeight != 1)
        {
            // Moving cells' distances times the weight: 1 − (1 − weight) · [share > MovingCellShare].
            var share = b.Node("Gather", [flow, b.Int64Scalar("moving_share_at", 1)], OnnxGraphBuilder.Int("axis", 2)); // [N, H·W]
            var moving = b.Node("Cast", [b.Node("Greater", [share, b.Initializer("moving_cell_share", [o.MovingCellShare])])], OnnxGraphBuilder.Int("to", 1));
            var weight = b.Node("Sub", [b.Initializer("moving_one", [1f]), b.Node("Mul", [moving, b.Initializer("moving_cell_discount", [1 - p.MovingCellWeight])])]);
            ranked = b.Node("Mul", [distances, weight]);
        }
        var top = b.Node("TopK", [ranked, b.Int64Initializer("top_k", Math.Min(o.TopK, cells))], 2, axis1)[0];
        var patch = b.Node("ReduceMean", [top], OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0));

        // Still and motion terms: quantiles of the cells' change from the older frame, two-sided against normal.
        var delta = b.Node("Sub", [now, before]);
        var change = b.Node("Sqrt", [SumOfSquares(b, delta, 2, keep: false)]); // [N, H·W]
        var lowRank = GridAnomalyParameters.Rank(o.LowQuantile, cells);
        var highCount = cells - GridAnomalyParameters.Rank(o.HighQuantile, cells) + 1;
        var lowest = b.Node("TopK", [change, b.Int64Initializer("low_k", lowRank)], 2, axis1, OnnxGraphBuilder.Int("largest", 0))[0];
        var highest = b.Node("TopK", [change, b.Int64Initializer("high_k", highCount)], 2, axis1, OnnxGraphBuilder.Int("largest", 1))[0];
        var low = b.Node("Gather", [lowest, b.Int64Scalar("low_at", lowRank - 1)], axis1);
        var high = b.Node("Gather", [highest, b.Int64Scalar("high_at", highCount - 1)], axis1);
        var epsilon = b.Initializer("epsilon", [GridAnomalyOptions.Epsilon]);
        var lowMedian = b.Node("Mul", [b.Initializer("low_median", [p.LowChangeMedian]), b.Node("Pow", [gaps, b.Initializer("low_exponent", [p.LowChangeExponent])])]);
        var highMedian = b.Node("Mul", [b.Initializer("high_median", [p.HighChangeMedian]), b.Node("Pow", [gaps, b.Initializer("high_exponent", [p.HighChangeExponent])])]);
        var still = b.Node("Abs", [b.Node("Log", [b.Node("Div", [b.Node("Add", [low, epsilon]), lowMedian])])]);
        var motion = b.Node("Abs", [b.Node("Log", [b.Node("Div", [b.Node("Add", [high, epsilon]), highMedian])])]);

        // Raw score: the weighted parts of the standardised log terms above the floor (a term of weight 0 is left out).
        var floor = b.Initializer("term_floor", [o.TermFloor]);
        string? raw = null;
        string[] terms = [frame, patch, still, motion];
        for (var k = 0; k < terms.Length; k++)
        {
            if (p.TermWeights[k] == 0)
            {
                continue;
            }
            var name_ = GridAnomalyParameters.TermNames[k];
            var z = b.Node("Div", [b.Node("Sub", [b.Node("Log", [b.Node("Add", [terms[k], epsilon])]), b.Initializer(name_ + "_log_mean", [p.TermLogMean[k]])]),
                b.Initializer(name_ + "_log_std", [p.TermLogStd[k]])]);
            var part = b.Node("Mul", [b.Relu(b.Node("Sub", [z, floor])), b.Initializer(name_ + "_weight", [p.TermWeights[k]])]);
            raw = raw is null ? part : b.Node("Add", [raw, part]);
        }
        if (flow is not null)
        {
            var pace = PacePart(b, p, flow, gaps);
            raw = raw is null ? pace : b.Node("Add", [raw, pace]);
        }
        if (p.RepeatWeight > 0)
        {
            // Repeat term: the high change quantile of the pair before, w · max(0, ln(normal / (q + ε)) − floor).
            var earliest = b.Node("Gather", [projected, b.Int64Scalar("earliest", newest - 2)], axis1);
            var earlierChange = b.Node("Sqrt", [SumOfSquares(b, b.Node("Sub", [before, earliest]), 2, keep: false)]); // [N, H·W]
            var earlierHighest = b.Node("TopK", [earlierChange, b.Int64Initializer("repeat_k", highCount)], 2, axis1, OnnxGraphBuilder.Int("largest", 1))[0];
            var earlierHigh = b.Node("Gather", [earlierHighest, b.Int64Scalar("repeat_at", highCount - 1)], axis1);
            var below = b.Node("Log", [b.Node("Div", [b.Initializer("repeat_median", [p.HighChangeMedian]), b.Node("Add", [earlierHigh, epsilon])])]);
            var repeat = b.Node("Mul", [b.Relu(b.Node("Sub", [below, b.Initializer("repeat_floor", [o.RepeatFloor])])), b.Initializer("repeat_weight", [p.RepeatWeight])]);
            raw = b.Node("Add", [raw!, repeat]);
        }
        b.Output(raw!, ScoreName, [null]);

        var cellZ = b.Node("Div", [b.Node("Sub", [b.Node("Log", [b.Node("Add", [distances, epsilon])]), b.Initializer("cell_log_mean", [p.CellLogMean])]),
            b.Initializer("cell_scale", [p.CellLogStd * p.CellP99])]);
        b.Output(b.Node("Reshape", [cellZ, b.Int64Initializer("map_shape", -1, p.Grid.Height, p.Grid.Width)]), CellsName, null, p.Grid.Height, p.Grid.Width);
        return b;
    }

    /// <summary>The newest frame's cell flow [N, H·W, 2] (length, moving share), after its grid.</summary>
    private static string NewerFlow(OnnxGraphBuilder b, GridAnomalyParameters p, string input)
    {
        var start = p.EmbeddingSize + p.Grid.Size;
        var newest = p.InputFrames - 1;
        return b.Node("Reshape", [Slice(b, input, [newest, start], [newest + 1, start + p.FlowSize], "flow"), b.Int64Initializer("flow_shape", -1, p.Cells, 2)]);
    }

    /// <summary>
    /// The pace term's part of the raw score from the newer frame's flow [N, H·W, 2]: the masked mean of
    /// ln(max(length / gap, ε) / normal) over moving cells (no sort), 0 below the minimum of moving cells, then
    /// weight · max(0, |pace| / std − floor), as <see cref="GridAnomalyScorer.Pace"/> and <see cref="GridAnomalyScorer.PacePart"/>.
    /// </summary>
    private static string PacePart(OnnxGraphBuilder b, GridAnomalyParameters p, string flow, string gaps)
    {
        var o = p.Options;
        var axis2 = OnnxGraphBuilder.Int("axis", 2);
        var length = b.Node("Gather", [flow, b.Int64Scalar("flow_length_at", 0)], axis2); // [N, H·W]
        var share = b.Node("Gather", [flow, b.Int64Scalar("flow_share_at", 1)], axis2);
        var perFrameGap = b.Node("Reshape", [gaps, b.Int64Initializer("gap_column", -1, 1)]); // [N, 1]
        var speed = b.Node("Max", [b.Node("Div", [length, perFrameGap]), b.Initializer("pace_epsilon", [GridAnomalyOptions.Epsilon])]);
        var ratio = b.Node("Log", [b.Node("Div", [speed, b.Initializer("flow_cell_normal", p.FlowCellNormal, p.Cells)])]);
        var moving = b.Node("Cast", [b.Node("Greater", [share, b.Initializer("pace_moving_share", [o.PaceMovingShare])])], OnnxGraphBuilder.Int("to", 1));
        var count = b.Node("ReduceSum", [moving, b.Int64Initializer("pace_sum_axis", 1)], OnnxGraphBuilder.Int("keepdims", 0)); // [N]
        var sum = b.Node("ReduceSum", [b.Node("Mul", [moving, ratio]), b.Int64Initializer("pace_ratio_axis", 1)], OnnxGraphBuilder.Int("keepdims", 0));
        var mean = b.Node("Div", [sum, b.Node("Max", [count, b.Initializer("pace_one", [1f])])]);
        var enough = b.Node("Cast", [b.Node("Greater", [count, b.Initializer("pace_min_cells", [o.PaceMinCells - 0.5f])])], OnnxGraphBuilder.Int("to", 1));
        var pace = b.Node("Abs", [b.Node("Mul", [mean, enough])]);
        var z = b.Node("Div", [pace, b.Initializer("pace_std", [p.PaceStd])]);
        return b.Node("Mul", [b.Relu(b.Node("Sub", [z, b.Initializer("pace_floor", [o.PaceFloor])])), b.Initializer("pace_weight", [p.PaceWeight])]);
    }

    private static string Slice(OnnxGraphBuilder b, string x, long[] starts, long[] ends, string label) =>
        b.Node("Slice", [x, b.Int64Initializer(label + "_starts", starts), b.Int64Initializer(label + "_ends", ends), b.Int64Initializer(label + "_axes", 1, 2)]);

    private static string SumOfSquares(OnnxGraphBuilder b, string x, long axis, bool keep) =>
        b.Node("ReduceSum", [b.Node("Mul", [x, x]), b.Int64Initializer("sum_axis", axis)], OnnxGraphBuilder.Int("keepdims", keep ? 1 : 0));

    /// <summary>
    /// Distance of each vector (last axis of <paramref name="x"/>) to its nearest memory entry; the last axis reduced.
    /// ‖x − m‖² = ‖x‖² + (‖m‖² − 2·x·m), and only the bracket depends on m: one product with [−2·m; ‖m‖²] against
    /// [x, 1] gives it, its minimum is taken, and ‖x‖² is added to the minimum (not to every entry).
    /// </summary>
    private static string Nearest(OnnxGraphBuilder b, string x, float[] memory, int entries, int size, string label, long axis)
    {
        var augmented = new float[(size + 1) * entries]; // [size + 1, entries]: −2·m per column, ‖m‖² in the last row
        for (var m = 0; m < entries; m++)
        {
            float sum = 0;
            for (var j = 0; j < size; j++)
            {
                var v = memory[m * size + j];
                augmented[j * entries + m] = -2 * v;
                sum += v * v;
            }
            augmented[size * entries + m] = sum;
        }
        var pads = new long[2 * (axis + 1)]; // x is [..., size] with size on axis: one more value at its end, a 1
        pads[^1] = 1;
        var withOne = b.Node("Pad", [x, b.Int64Initializer(label + "_pads", pads), b.Initializer(label + "_one", [1f])]);
        var bracket = b.Node("MatMul", [withOne, b.Initializer(label + "_memory", augmented, size + 1, entries)]);
        var nearest = b.Node("Add", [b.Node("ReduceMin", [bracket], OnnxGraphBuilder.Ints("axes", axis), OnnxGraphBuilder.Int("keepdims", 0)),
            SumOfSquares(b, x, axis, keep: false)]);
        return b.Node("Sqrt", [b.Relu(nearest)]);
    }

    /// <summary>
    /// Writes the model and then its manifest, each through a temporary file (a manifest never points at a
    /// half-written model). <paramref name="frameModel"/> is the frame model's manifest the features come from.
    /// </summary>
    public static ModelManifest Save(GridAnomalyParameters p, string path, ModelManifest frameModel, string source)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        Build(p, name).Save(path);
        var manifest = Manifest(p, name, frameModel, source);
        manifest.Save(ModelManifest.PathFor(path));
        return manifest;
    }

    public static ModelManifest Manifest(GridAnomalyParameters p, string name, ModelManifest frameModel, string source) => new()
    {
        Name = name,
        Kind = ModelManifest.GridAnomalyKind,
        InputName = InputName,
        InputWidth = frameModel.InputWidth,
        InputHeight = frameModel.InputHeight,
        InputLayout = "NTF",
        ChannelOrder = "-",
        InputElementType = "float32",
        Normalization = "in-graph",
        OutputNames = [ScoreName, CellsName],
        WindowLength = p.InputFrames - 1,
        WindowStride = 1,
        FeatureSize = p.FeatureSize,
        EmbeddingSize = p.EmbeddingSize,
        Grid = p.Grid,
        Anomaly = p.Calibration,
        GridAnomaly = new GridAnomalyDescription(
            [.. GridAnomalyParameters.TermNames.Where((_, k) => p.TermWeights[k] > 0), .. p.ReadsFlow ? [GridAnomalyParameters.PaceTerm] : Array.Empty<string>(),
                .. p.RepeatWeight > 0 ? [GridAnomalyParameters.RepeatTerm] : Array.Empty<string>()],
            p.Options.ProjectedChannels, p.PatchCount, p.FrameCount, p.Options.TopK, p.FramesLearned)
        {
            FrameIntervalMs = p.FrameIntervalMs > 0 ? p.FrameIntervalMs : null,
            FlowWidth = p.ReadsFlow ? FlowFeatures.WorkingWidth : null,
        },
        Source = source,
    };
}

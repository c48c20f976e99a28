using Edge.Models.Onnx;

namespace Edge.Models.GridAnomaly;

/// <summary>
/// Writes the default anomaly model as one ONNX graph (Edge's writer, <see cref="OnnxGraphBuilder"/>): input
/// "grids" [N, Steps + 1, H·W·C] (consecutive frames' grids, oldest first, each cell's channels contiguous), outputs
/// "score" [N] (the raw frame score of the newest frame, put on the calibrated scale by the manifest's
/// <see cref="ModelManifest.Anomaly"/>) and "cells" [N, H, W] (the cell map, 1 = the p99 of normal cells). It computes
/// what <see cref="GridAnomalyScorer"/> computes; the nearest-memory search is one batched MatMul per cell.
/// </summary>
public static class GridAnomalyGraph
{
    public const string InputName = "grids";
    public const string ScoreName = "score";
    public const string CellsName = "cells";

    public static OnnxGraphBuilder Build(GridAnomalyParameters p, string name)
    {
        var g = p.Grid;
        var o = p.Options;
        var (cells, d, k, frames, steps) = (p.Cells, o.ProjectedChannels, o.MemoryPerCell, p.InputFrames, o.Steps);
        var b = new OnnxGraphBuilder(name, $"grid anomaly model: memory, cell motion and global motion over {g.Height}x{g.Width}x{g.Channels} grids");
        var input = b.Input(InputName, null, frames, g.Size);

        // Pool over neighbouring cells: [N·F, C, H, W] for AveragePool, back to [N, F, H·W, C].
        var x = b.Node("Reshape", [input, b.Int64Initializer("grid_shape", -1, g.Height, g.Width, g.Channels)]);
        if (o.PoolRadius > 0)
        {
            var size = 2 * o.PoolRadius + 1;
            x = b.Node("Transpose", [x], OnnxGraphBuilder.Ints("perm", 0, 3, 1, 2));
            x = b.AveragePool(x, [size, size], [1, 1], [o.PoolRadius, o.PoolRadius], countIncludePad: false);
            x = b.Node("Transpose", [x], OnnxGraphBuilder.Ints("perm", 0, 2, 3, 1));
        }
        x = b.Node("Reshape", [x, b.Int64Initializer("cells_shape", -1, frames, cells, g.Channels)]);
        x = b.Node("Sub", [x, b.Initializer("channel_mean", p.ChannelMean, g.Channels)]);
        var projected = b.Node("MatMul", [x, b.Initializer("projection", p.Projection, g.Channels, d)]); // [N, F, HW, D]

        // Memory: squared distances as |x|² + |m|² − 2·x·m, one [N, D]×[D, K] product per cell.
        var newest = b.Node("Gather", [projected, b.Int64Scalar("newest", frames - 1)], OnnxGraphBuilder.Int("axis", 1)); // [N, HW, D]
        var byCell = b.Node("Transpose", [newest], OnnxGraphBuilder.Ints("perm", 1, 0, 2)); // [HW, N, D]
        var memoryT = new float[cells * d * k];
        var memoryNorms = new float[cells * k];
        for (var c = 0; c < cells; c++)
        {
            for (var m = 0; m < k; m++)
            {
                float sum = 0;
                for (var j = 0; j < d; j++)
                {
                    var v = p.Memory[(c * k + m) * d + j];
                    memoryT[(c * d + j) * k + m] = v;
                    sum += v * v;
                }
                memoryNorms[c * k + m] = sum;
            }
        }
        var dot = b.Node("MatMul", [byCell, b.Initializer("memory", memoryT, cells, d, k)]); // [HW, N, K]
        var norms = b.Node("ReduceSum", [b.Node("Mul", [byCell, byCell]), b.Int64Initializer("axis2", 2)], OnnxGraphBuilder.Int("keepdims", 1));
        var squared = b.Node("Sub", [b.Node("Add", [norms, b.Initializer("memory_norms", memoryNorms, cells, 1, k)]),
            b.Node("Mul", [dot, b.Initializer("two", [2f])])]);
        var nearest = b.Node("ReduceMin", [b.Relu(squared)], OnnxGraphBuilder.Ints("axes", 2), OnnxGraphBuilder.Int("keepdims", 0)); // [HW, N]
        var distance = b.Node("Transpose", [b.Node("Sqrt", [nearest])], OnnxGraphBuilder.Ints("perm", 1, 0)); // [N, HW]
        var memoryZ = b.Node("Div", [b.Node("Sub", [distance, b.Initializer("memory_mean", p.MemoryMean, cells)]),
            b.Initializer("memory_std", p.MemoryStd, cells)]);

        // Motion: ‖p[t] − p[t−1]‖ per cell and step.
        var earlier = b.Node("Slice", [projected, b.Int64Initializer("s0", 0), b.Int64Initializer("e0", steps), b.Int64Initializer("a1", 1)]);
        var later = b.Node("Slice", [projected, b.Int64Initializer("s1", 1), b.Int64Initializer("e1", frames), b.Int64Initializer("a1b", 1)]);
        var delta = b.Node("Sub", [later, earlier]);
        var change = b.Node("Sqrt", [b.Node("ReduceSum", [b.Node("Mul", [delta, delta]), b.Int64Initializer("axis3", 3)], OnnxGraphBuilder.Int("keepdims", 0))]); // [N, S, HW]
        var epsilon = b.Initializer("epsilon", [GridAnomalyOptions.MotionEpsilon]);
        var cellLog = b.Node("Log", [b.Node("Add", [change, epsilon])]);
        var cellZ = b.Node("Div", [b.Node("Sub", [cellLog, b.Initializer("motion_mean", p.MotionMean, cells)]), b.Initializer("motion_std", p.MotionStd, cells)]);
        var cellMotion = b.Node("Abs", [b.Node("ReduceMean", [cellZ], OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0))]); // [N, HW]
        var globalChange = b.Node("ReduceMean", [change], OnnxGraphBuilder.Ints("axes", 2), OnnxGraphBuilder.Int("keepdims", 0)); // [N, S]
        var globalZ = b.Node("Div", [b.Node("Sub", [b.Node("Log", [b.Node("Add", [globalChange, epsilon])]), b.Initializer("global_mean", [p.GlobalMean])]),
            b.Initializer("global_std", [p.GlobalStd])]);
        var last = b.Node("Abs", [b.Node("Gather", [globalZ, b.Int64Scalar("last_step", steps - 1)], OnnxGraphBuilder.Int("axis", 1))]);
        var lowest = b.Node("Neg", [b.Node("ReduceMin", [globalZ], OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0))]);
        var highest = b.Node("ReduceMax", [globalZ], OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0));
        var average = b.Node("Abs", [b.Node("ReduceMean", [globalZ], OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0))]);
        var globalTerm = b.Node("Max", [last, lowest, highest, average]);

        // Frame terms: top-k means, each on its held-out relative scale; the raw score is the largest.
        var topK = b.Int64Initializer("top_k", Math.Min(o.TopK, cells));
        var memoryTerm = b.Node("ReduceMean", [b.Node("TopK", [memoryZ, topK], 2, OnnxGraphBuilder.Int("axis", 1))[0]],
            OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0));
        var motionTerm = b.Node("ReduceMean", [b.Node("TopK", [cellMotion, topK], 2, OnnxGraphBuilder.Int("axis", 1))[0]],
            OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0));
        string Relative(string term, int i, string label) =>
            b.Node("Div", [b.Node("Sub", [term, b.Initializer(label + "_mean", [p.TermMean[i]])]), b.Initializer(label + "_span", [p.TermP99[i] - p.TermMean[i]])]);
        var raw = b.Node("Max", [Relative(memoryTerm, 0, "memory_term"), Relative(motionTerm, 1, "motion_term"), Relative(globalTerm, 2, "global_term")]);
        b.Output(raw, ScoreName, [null]);

        var map = b.Node("Max", [b.Node("Div", [memoryZ, b.Initializer("memory_cell_p99", [p.CellP99[0]])]),
            b.Node("Div", [cellMotion, b.Initializer("motion_cell_p99", [p.CellP99[1]])])]);
        b.Output(b.Node("Reshape", [map, b.Int64Initializer("map_shape", -1, g.Height, g.Width)]), CellsName, null, g.Height, g.Width);
        return b;
    }

    /// <summary>
    /// Writes the model and its manifest, each through a temporary file (the model first, then the manifest: a
    /// manifest never points at a half-written model). <paramref name="frameModel"/> is the frame model's manifest,
    /// whose input size maps cells back to frame pixels.
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
        WindowLength = p.Options.Steps,
        WindowStride = 1,
        FeatureSize = p.Grid.Size,
        Grid = p.Grid,
        Anomaly = p.Calibration,
        GridAnomaly = new GridAnomalyDescription(["memory", "cell-motion", "global-motion"], p.Options.ProjectedChannels, p.Options.MemoryPerCell,
            p.Options.Neighbourhood, p.Options.TopK, p.FramesLearned) { MapOutputName = CellsName },
        Source = source,
    };
}

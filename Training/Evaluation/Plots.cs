using ScottPlot;

namespace Edge.Training.Evaluation;

/// <summary>PNG plots of training and evaluation (ScottPlot, rendered without a display).</summary>
public static class Plots
{
    public static void LossCurves(IReadOnlyList<EpochReport> epochs, string path, string title)
    {
        var plot = new Plot();
        double[] x = [.. epochs.Select(e => (double)e.Epoch)];
        var train = plot.Add.Scatter(x, [.. epochs.Select(e => e.TrainLoss)]);
        train.LegendText = "train loss";
        var validation = plot.Add.Scatter(x, [.. epochs.Select(e => e.ValidationLoss)]);
        validation.LegendText = "held-out loss";
        if (epochs.Any(e => e.ValidationAccuracy is not null))
        {
            var accuracy = plot.Add.Scatter(x, [.. epochs.Select(e => e.ValidationAccuracy ?? 0)]);
            accuracy.LegendText = "held-out accuracy";
        }
        plot.ShowLegend();
        plot.Title(title);
        plot.XLabel("epoch");
        Save(plot, path, 640, 420);
    }

    public static void ConfusionMatrix(int[,] matrix, IReadOnlyList<string> labels, string path, string title)
    {
        var classes = labels.Count;
        var plot = new Plot();
        var data = new double[classes, classes];
        for (var t = 0; t < classes; t++)
        {
            var rowTotal = Enumerable.Range(0, classes).Sum(p => matrix[t, p]);
            for (var p = 0; p < classes; p++)
            {
                data[t, p] = rowTotal == 0 ? 0 : matrix[t, p] / (double)rowTotal;
            }
        }
        var heatmap = plot.Add.Heatmap(data);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.FlipVertically = false;
        for (var t = 0; t < classes; t++)
        {
            for (var p = 0; p < classes; p++)
            {
                var text = plot.Add.Text(matrix[t, p].ToString(System.Globalization.CultureInfo.InvariantCulture), p, classes - 1 - t);
                text.LabelFontColor = data[t, p] > 0.5 ? Colors.Black : Colors.White;
                text.LabelAlignment = Alignment.MiddleCenter;
            }
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, classes).Select(i => (double)i)], [.. labels]);
        plot.Axes.Left.SetTicks([.. Enumerable.Range(0, classes).Select(i => (double)(classes - 1 - i))], [.. labels]);
        plot.XLabel("predicted");
        plot.YLabel("true");
        plot.Title(title);
        Save(plot, path, 160 + 60 * classes, 120 + 50 * classes);
    }

    public static void Roc(double[] falsePositiveRate, double[] truePositiveRate, double auc, string path, string title) =>
        Rocs([("model", falsePositiveRate, truePositiveRate, auc)], path, title);

    /// <summary>Score timelines over frames, with the ground-truth spans shaded and labelled.</summary>
    public static void Timeline(double[] learned, double[] baseline, IReadOnlyList<(int Start, int End, string Kind)> truth, string path, string title)
    {
        var plot = new Plot();
        foreach (var (start, end, kind) in truth)
        {
            var span = plot.Add.HorizontalSpan(start, end);
            span.FillStyle.Color = Colors.Red.WithAlpha(0.15);
            var label = plot.Add.Text(kind, start, 0);
            label.LabelFontSize = 10;
        }
        double[] x = [.. Enumerable.Range(0, learned.Length).Select(i => (double)i)];
        var learnedLine = plot.Add.Scatter(x, [.. learned.Select(v => double.IsNaN(v) ? 0 : Math.Min(v, 10))]);
        learnedLine.LegendText = "learned (GRU/LSTM score)";
        learnedLine.MarkerSize = 0;
        var baselineLine = plot.Add.Scatter(x, [.. baseline.Select(v => double.IsNaN(v) ? 0 : Math.Min(v, 10))]);
        baselineLine.LegendText = "frame difference";
        baselineLine.MarkerSize = 0;
        plot.Add.HorizontalLine(1.0).LinePattern = LinePattern.Dashed;
        plot.ShowLegend();
        plot.Title(title);
        plot.XLabel("frame");
        plot.YLabel("score (clipped at 10)");
        Save(plot, path, 1100, 420);
    }

    /// <summary>Several ROC curves on one plot.</summary>
    public static void Rocs(IReadOnlyList<(string Name, double[] Fpr, double[] Tpr, double Auc)> curves, string path, string title)
    {
        var plot = new Plot();
        foreach (var (name, fpr, tpr, auc) in curves)
        {
            var curve = plot.Add.Scatter(fpr, tpr);
            curve.LegendText = $"{name}: AUC {auc:0.000}";
            curve.MarkerSize = 0;
        }
        var chance = plot.Add.Line(0, 0, 1, 1);
        chance.LinePattern = LinePattern.Dashed;
        plot.ShowLegend();
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.XLabel("false positive rate");
        plot.YLabel("true positive rate");
        plot.Title(title);
        Save(plot, path, 480, 440);
    }

    private static void Save(Plot plot, string path, int width, int height)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp.png";
        plot.SavePng(temp, Math.Max(width, 360), Math.Max(height, 300));
        File.Move(temp, path, overwrite: true);
    }
}

namespace Edge.Training.Evaluation;

/// <summary>Classification and detection metrics.</summary>
public static class Metrics
{
    /// <summary>Counts [true, predicted].</summary>
    public static int[,] ConfusionMatrix(IReadOnlyList<int> truth, IReadOnlyList<int> predicted, int classes)
    {
        var matrix = new int[classes, classes];
        for (var i = 0; i < truth.Count; i++)
        {
            matrix[truth[i], predicted[i]]++;
        }
        return matrix;
    }

    public static double Accuracy(int[,] confusion)
    {
        long right = 0, all = 0;
        for (var t = 0; t < confusion.GetLength(0); t++)
        {
            for (var p = 0; p < confusion.GetLength(1); p++)
            {
                all += confusion[t, p];
                right += t == p ? confusion[t, p] : 0;
            }
        }
        return all == 0 ? 0 : right / (double)all;
    }

    /// <summary>
    /// The mean over classes (those with any true instance) of the share of each class labelled right: balanced
    /// accuracy, which a model that says the commonest class to everything does not get.
    /// </summary>
    public static double MeanRecall(int[,] confusion)
    {
        var recalls = new List<double>();
        for (var t = 0; t < confusion.GetLength(0); t++)
        {
            long total = 0;
            for (var p = 0; p < confusion.GetLength(1); p++)
            {
                total += confusion[t, p];
            }
            if (total > 0)
            {
                recalls.Add(confusion[t, t] / (double)total);
            }
        }
        return recalls.Count > 0 ? recalls.Average() : 0;
    }

    /// <summary>
    /// ROC curve of scores where higher means positive: false- and true-positive rates at every distinct threshold,
    /// from (0,0) to (1,1), and the area under it (ties count half, as in the Mann–Whitney statistic).
    /// </summary>
    public static (double[] FalsePositiveRate, double[] TruePositiveRate, double Auc) Roc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        var positives = positive.Count(p => p);
        var negatives = positive.Count - positives;
        if (positives == 0 || negatives == 0)
        {
            throw new ArgumentException("ROC needs both positive and negative samples");
        }
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        double tp = 0, fp = 0, auc = 0;
        for (var k = 0; k < order.Length;)
        {
            // Samples sharing a score move the curve together (a diagonal step).
            var score = scores[order[k]];
            double stepTp = 0, stepFp = 0;
            while (k < order.Length && scores[order[k]] == score)
            {
                if (positive[order[k]])
                {
                    stepTp++;
                }
                else
                {
                    stepFp++;
                }
                k++;
            }
            auc += stepFp / negatives * (tp + stepTp / 2) / positives;
            tp += stepTp;
            fp += stepFp;
            fpr.Add(fp / negatives);
            tpr.Add(tp / positives);
        }
        return ([.. fpr], [.. tpr], auc);
    }
}

using Edge.Training.Data;

namespace Edge.Training.Evaluation;

/// <summary>How well a box source finds people, frame by frame, at IoU ≥ 0.5.</summary>
/// <param name="AveragePrecision">Area under the precision–recall curve over the boxes' scores (all points, as VOC 2010+ and COCO at one IoU); for a source without scores, precision × recall.</param>
public sealed record DetectionReport(int Frames, int People, int Boxes, int TruePositives, int FalsePositives, double AveragePrecision)
{
    public double Recall => People == 0 ? 0 : TruePositives / (double)People;

    public double Precision => TruePositives + FalsePositives == 0 ? 0 : TruePositives / (double)(TruePositives + FalsePositives);
}

/// <summary>
/// Average precision of person boxes against the scenes' ground truth. People at least
/// <see cref="MinVisibility"/> visible must be found; a box on someone less visible (or on a person the ground truth
/// does not evaluate) counts neither way, as COCO treats its "ignore" regions. Each person is matched once, by the
/// highest-scoring box that overlaps it at IoU ≥ 0.5, best overlap first.
/// </summary>
public sealed class DetectionEvaluation
{
    public const double MinIou = 0.5;

    public const double MinVisibility = 0.3;

    private readonly List<(float Score, bool TruePositive)> _boxes = [];
    private int _people;
    private int _frames;

    public void Add(IReadOnlyList<MotBox> truth, IReadOnlyList<BoxDetection> boxes)
    {
        _frames++;
        var wanted = truth.Where(t => t.Evaluated && t.Visibility >= MinVisibility).ToList();
        var ignored = truth.Where(t => !t.Evaluated || t.Visibility < MinVisibility).ToList();
        _people += wanted.Count;
        var taken = new bool[wanted.Count];
        foreach (var box in boxes.OrderByDescending(b => b.Score))
        {
            var asMot = new MotBox(0, 0, box.Left, box.Top, box.Width, box.Height, 1, 1, 1);
            var (best, bestIou) = (-1, MinIou);
            for (var i = 0; i < wanted.Count; i++)
            {
                var iou = MotBox.Iou(asMot, wanted[i]);
                if (!taken[i] && iou >= bestIou)
                {
                    (best, bestIou) = (i, iou);
                }
            }
            if (best >= 0)
            {
                taken[best] = true;
                _boxes.Add((box.Score, true));
            }
            else if (!ignored.Any(t => MotBox.Iou(asMot, t) >= MinIou))
            {
                _boxes.Add((box.Score, false));
            }
        }
    }

    public DetectionReport Report()
    {
        var ordered = _boxes.OrderByDescending(b => b.Score).ToList();
        var truePositives = ordered.Count(b => b.TruePositive);
        var scored = ordered.Select(b => b.Score).Distinct().Count() > 1;
        double ap;
        if (!scored || _people == 0)
        {
            ap = _people == 0 || ordered.Count == 0 ? 0 : truePositives / (double)_people * truePositives / ordered.Count;
        }
        else
        {
            // Precision at each recall step, made monotone from the right, integrated over recall.
            var precision = new double[ordered.Count];
            var recall = new double[ordered.Count];
            var tp = 0;
            for (var i = 0; i < ordered.Count; i++)
            {
                tp += ordered[i].TruePositive ? 1 : 0;
                precision[i] = tp / (double)(i + 1);
                recall[i] = tp / (double)_people;
            }
            for (var i = ordered.Count - 2; i >= 0; i--)
            {
                precision[i] = Math.Max(precision[i], precision[i + 1]);
            }
            ap = 0;
            var previousRecall = 0.0;
            for (var i = 0; i < ordered.Count; i++)
            {
                ap += (recall[i] - previousRecall) * precision[i];
                previousRecall = recall[i];
            }
        }
        return new DetectionReport(_frames, _people, ordered.Count, truePositives, ordered.Count - truePositives, ap);
    }
}

using Edge.Models;
using System.Globalization;
using System.Text;

namespace Edge.Training.Data;

/// <summary>
/// One row of a MOTChallenge text file (gt.txt or a tracker's results): 1-based frame, identity, box as left, top,
/// width, height in pixels, then confidence (in ground truth: 1 evaluated, 0 ignored), class (1 pedestrian) and
/// visibility (0..1, the share of the object neither occluded nor outside the frame).
/// </summary>
public readonly record struct MotBox(int Frame, int Id, double Left, double Top, double Width, double Height,
    double Confidence = 1, int Class = 1, double Visibility = 1)
{
    public double Right => Left + Width;

    public double Bottom => Top + Height;

    /// <summary>Whether a ground-truth row is evaluated (confidence flag set), as MOTChallenge reads the flag.</summary>
    public bool Evaluated => Confidence != 0;

    /// <summary>Intersection over union of two boxes; 0 when either is empty.</summary>
    public static double Iou(in MotBox a, in MotBox b)
    {
        var w = Math.Min(a.Right, b.Right) - Math.Max(a.Left, b.Left);
        var h = Math.Min(a.Bottom, b.Bottom) - Math.Max(a.Top, b.Top);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }
        var inter = w * h;
        var union = a.Width * a.Height + b.Width * b.Height - inter;
        return union > 0 ? inter / union : 0;
    }
}

/// <summary>Reads and writes MOTChallenge text files (comma-separated, invariant culture, one row per box).</summary>
public static class MotChallengeFile
{
    /// <summary>Rows sorted by frame, then identity. Missing trailing columns take the defaults (1, 1, 1); MOT16's 10-column rows read too.</summary>
    public static List<MotBox> Read(string path)
    {
        var rows = new List<MotBox>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var cells = line.Split(',');
            double Cell(int i, double fallback) =>
                i >= cells.Length ? fallback
                : double.TryParse(cells[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new TrainingDataException($"{path}:{number}: column {i + 1} ('{cells[i].Trim()}') is not a number");
            if (cells.Length < 6)
            {
                throw new TrainingDataException($"{path}:{number}: a MOTChallenge row has at least 6 columns (frame, id, left, top, width, height), not {cells.Length}");
            }
            var box = new MotBox((int)Cell(0, 0), (int)Cell(1, 0), Cell(2, 0), Cell(3, 0), Cell(4, 0), Cell(5, 0),
                Cell(6, 1), (int)Cell(7, 1), Cell(8, 1));
            if (box.Frame < 1 || box.Width < 0 || box.Height < 0)
            {
                throw new TrainingDataException($"{path}:{number}: frames count from 1 and sizes are not negative");
            }
            rows.Add(box);
        }
        rows.Sort((a, b) => a.Frame != b.Frame ? a.Frame.CompareTo(b.Frame) : a.Id.CompareTo(b.Id));
        return rows;
    }

    /// <summary>Writes the rows (as given) through a temporary file, so a reader never sees half a file.</summary>
    public static void Write(string path, IEnumerable<MotBox> rows)
    {
        var text = new StringBuilder();
        foreach (var r in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"{r.Frame},{r.Id},{r.Left:0.##},{r.Top:0.##},{r.Width:0.##},{r.Height:0.##},{r.Confidence:0.###},{r.Class},{r.Visibility:0.###}\n");
        }
        var temp = path + ".tmp";
        File.WriteAllText(temp, text.ToString());
        File.Move(temp, path, overwrite: true);
    }
}

using System.Numerics;

namespace Edge.Pipeline.Tracking;

/// <summary>
/// Constant-velocity Kalman filter of one box, as SORT and ByteTrack keep it: state (centre x, centre y, width,
/// height) and their rates, measurement the box. Time is continuous (seconds between updates, from timestamps), so a
/// dropped frame only means a longer prediction. Process and measurement noise scale with the box's height, so a
/// near, large person and a far, small one are judged alike (DeepSORT's choice).
/// <para>
/// Because the motion model, the process noise and the measurement noise never couple the four coordinates, the 8×8
/// covariance of the usual formulation stays block diagonal: it is kept here as four exact 2×2 (value, rate) filters.
/// </para>
/// Not thread-safe; owned by one track.
/// </summary>
public sealed class KalmanBoxFilter
{
    /// <summary>Random-walk strength of a coordinate per √s, in heights (DeepSORT's 1/20 per frame at 30 fps ≈ 0.27).</summary>
    public const double PositionNoise = 0.1;

    /// <summary>Random-walk strength of a rate per √s, in heights per second: how fast a person can change pace.</summary>
    public const double VelocityNoise = 0.7;

    /// <summary>Standard deviation of a measured coordinate, in heights: how much a detector's box jitters.</summary>
    public const double MeasurementNoise = 0.05;

    /// <summary>Standard deviation of the first velocity guess (zero), in heights per second: up to a run.</summary>
    public const double InitialVelocityStd = 1.5;

    /// <summary>95 % quantile of χ² with 4 degrees of freedom: the gate of a box's squared Mahalanobis distance.</summary>
    public const double Chi2Gate95 = 9.4877;

    private const int Dimensions = 4;

    // Per coordinate: value, rate, and the covariance [[p00, p01], [p01, p11]].
    private readonly double[] _x = new double[Dimensions];
    private readonly double[] _v = new double[Dimensions];
    private readonly double[] _p00 = new double[Dimensions];
    private readonly double[] _p01 = new double[Dimensions];
    private readonly double[] _p11 = new double[Dimensions];

    public KalmanBoxFilter(in BoxXyxy first)
    {
        Span<double> z = stackalloc double[Dimensions];
        Measure(first, z);
        var h = Scale(z[3]);
        for (var d = 0; d < Dimensions; d++)
        {
            _x[d] = z[d];
            _p00[d] = Square(2 * MeasurementNoise * h);
            _p11[d] = Square(InitialVelocityStd * h);
        }
        // Size changes slowly: a person does not double in height in a second.
        _p11[2] *= 0.1;
        _p11[3] *= 0.1;
    }

    /// <summary>The filtered (or, after <see cref="Predict"/>, predicted) box.</summary>
    public BoxXyxy Box => BoxXyxy.FromCentre((float)_x[0], (float)_x[1], (float)Math.Max(1, _x[2]), (float)Math.Max(1, _x[3]));

    /// <summary>Velocity of the box's centre in pixels per second.</summary>
    public Vector2 VelocityPxPerS => new((float)_v[0], (float)_v[1]);

    /// <summary>Moves the state <paramref name="dtSeconds"/> ahead and widens its uncertainty accordingly.</summary>
    public void Predict(double dtSeconds)
    {
        if (dtSeconds <= 0)
        {
            return;
        }
        // A shrinking box must not turn inside out while it coasts.
        for (var d = 2; d < Dimensions; d++)
        {
            if (_x[d] + _v[d] * dtSeconds < 0.5 * _x[d])
            {
                _v[d] = 0;
            }
        }
        var h = Scale(_x[3]);
        var qp = Square(PositionNoise * h) * dtSeconds;
        var qv = Square(VelocityNoise * h) * dtSeconds;
        for (var d = 0; d < Dimensions; d++)
        {
            _x[d] += _v[d] * dtSeconds;
            // P = F P Fᵀ + Q with F = [[1, dt], [0, 1]].
            var p00 = _p00[d] + dtSeconds * (2 * _p01[d] + dtSeconds * _p11[d]);
            var p01 = _p01[d] + dtSeconds * _p11[d];
            _p00[d] = p00 + qp;
            _p01[d] = p01;
            _p11[d] += qv;
        }
    }

    /// <summary>Corrects the state with a measured box.</summary>
    public void Update(in BoxXyxy measured)
    {
        Span<double> z = stackalloc double[Dimensions];
        Measure(measured, z);
        var r = Square(MeasurementNoise * Scale(_x[3]));
        for (var d = 0; d < Dimensions; d++)
        {
            var s = _p00[d] + r;
            var k0 = _p00[d] / s;
            var k1 = _p01[d] / s;
            var innovation = z[d] - _x[d];
            _x[d] += k0 * innovation;
            _v[d] += k1 * innovation;
            var (p00, p01, p11) = (_p00[d], _p01[d], _p11[d]);
            _p00[d] = (1 - k0) * p00;
            _p01[d] = (1 - k0) * p01;
            _p11[d] = p11 - k1 * p01;
        }
    }

    /// <summary>
    /// Squared Mahalanobis distance of <paramref name="measured"/> from the current state's measurement distribution;
    /// compare with <see cref="Chi2Gate95"/>.
    /// </summary>
    public double MahalanobisSquared(in BoxXyxy measured)
    {
        Span<double> z = stackalloc double[Dimensions];
        Measure(measured, z);
        var r = Square(MeasurementNoise * Scale(_x[3]));
        var sum = 0.0;
        for (var d = 0; d < Dimensions; d++)
        {
            sum += Square(z[d] - _x[d]) / (_p00[d] + r);
        }
        return sum;
    }

    private static void Measure(in BoxXyxy box, Span<double> z)
    {
        z[0] = (box.X1 + box.X2) / 2.0;
        z[1] = (box.Y1 + box.Y2) / 2.0;
        z[2] = Math.Max(1, box.Width);
        z[3] = Math.Max(1, box.Height);
    }

    // Tiny boxes would make the filter overconfident.
    private static double Scale(double height) => Math.Max(height, 8);

    private static double Square(double v) => v * v;
}

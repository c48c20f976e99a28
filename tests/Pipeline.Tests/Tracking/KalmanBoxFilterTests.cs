using Edge.Pipeline.Tracking;

namespace Edge.Pipeline.Tests.Tracking;

public sealed class KalmanBoxFilterTests
{
    [Fact]
    public void Update_ConstantVelocity_LearnsTheVelocityAndPredictsAcrossAGap()
    {
        // 120 px/s right, 30 px/s down, a 40×100 box measured at 10 fps with ±2 px of deterministic jitter.
        var filter = new KalmanBoxFilter(Box(100, 200, 0));
        for (var t = 1; t <= 30; t++)
        {
            filter.Predict(0.1);
            filter.Update(Box(100 + 12 * t, 200 + 3 * t, t % 2 == 0 ? 2 : -2));
        }
        Assert.InRange(filter.VelocityPxPerS.X, 110, 130);
        Assert.InRange(filter.VelocityPxPerS.Y, 25, 35);

        // Half a second without measurements: the prediction keeps moving at the learned velocity.
        for (var t = 0; t < 5; t++)
        {
            filter.Predict(0.1);
        }
        var predicted = filter.Box;
        Assert.InRange(predicted.Centre.X, 100 + 12 * 35 + 20 - 8, 100 + 12 * 35 + 20 + 8);
        Assert.InRange(predicted.Centre.Y, 200 + 3 * 35 + 50 - 6, 200 + 3 * 35 + 50 + 6);
        Assert.InRange(predicted.Width, 38, 42);
        Assert.InRange(predicted.Height, 97, 103);
    }

    [Fact]
    public void MahalanobisSquared_NearAndFarBoxes_InsideAndOutsideTheGate_GateWidensWhileCoasting()
    {
        var filter = new KalmanBoxFilter(Box(100, 100, 0));
        for (var t = 1; t <= 10; t++)
        {
            filter.Predict(0.1);
            filter.Update(Box(100 + 5 * t, 100, 0));
        }
        filter.Predict(0.1);
        var near = Box(155, 100, 0);
        var far = Box(220, 100, 0);
        // A box twice as tall at the same place is another person, not this one.
        var taller = new BoxXyxy(155, 0, 195, 200);
        Assert.True(filter.MahalanobisSquared(near) < KalmanBoxFilter.Chi2Gate95);
        Assert.True(filter.MahalanobisSquared(far) > KalmanBoxFilter.Chi2Gate95);
        Assert.True(filter.MahalanobisSquared(taller) > KalmanBoxFilter.Chi2Gate95);

        var before = filter.MahalanobisSquared(far);
        for (var t = 0; t < 20; t++)
        {
            filter.Predict(0.1);
        }
        Assert.True(filter.MahalanobisSquared(Box(100 + 5 * 31 + 65, 100, 0)) < before);
    }

    [Fact]
    public void Predict_ShrinkingBoxCoastingLong_NeverTurnsInsideOut()
    {
        var filter = new KalmanBoxFilter(new BoxXyxy(0, 0, 100, 100));
        for (var t = 1; t <= 5; t++)
        {
            filter.Predict(0.1);
            filter.Update(new BoxXyxy(0, 0, 100 - 15 * t, 100 - 15 * t));
        }
        for (var t = 0; t < 100; t++)
        {
            filter.Predict(0.1);
            Assert.True(filter.Box.Width >= 1 && filter.Box.Height >= 1);
        }
    }

    private static BoxXyxy Box(float x, float y, float jitter) => new(x + jitter, y + jitter, x + 40 + jitter, y + 100 + jitter);
}

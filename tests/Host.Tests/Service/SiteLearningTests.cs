using Edge.Host.Service;
using Edge.Tests;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Tests.Service;

/// <summary>What site learning leaves on disk between learnings (learning itself is tested in <see cref="StreamServiceTests"/>).</summary>
public sealed class SiteLearningTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public void RemoveOlderModels_KeepsTheNewestThreeWithTheirManifests_AndLeavesOtherFiles()
    {
        string[] learned = ["anomaly-20261101T080000Z", "anomaly-20261108T080000Z", "anomaly-20261115T080000Z", "anomaly-20261122T080000Z", "anomaly-20261129T080000Z"];
        foreach (var name in learned)
        {
            File.WriteAllText(Path.Combine(_work, name + ".onnx"), "model");
            File.WriteAllText(Path.Combine(_work, name + ".json"), "{}");
        }
        File.WriteAllText(Path.Combine(_work, "anomaly-20261001T080000Z.onnx"), "a model whose manifest is gone");
        File.WriteAllText(Path.Combine(_work, "street.onnx"), "a file the user put there");
        var logger = new ListLogger();

        SiteLearning.RemoveOlderModels(_work, SiteLearning.KeptModels, "cam", logger);

        Assert.Equal(3, SiteLearning.KeptModels);
        Assert.Equal(
            ["anomaly-20261115T080000Z.json", "anomaly-20261115T080000Z.onnx", "anomaly-20261122T080000Z.json", "anomaly-20261122T080000Z.onnx",
             "anomaly-20261129T080000Z.json", "anomaly-20261129T080000Z.onnx", "street.onnx"],
            Directory.GetFiles(_work).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var line = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Equal("cam: removed 3 older learned model(s), keeping the newest 3: anomaly-20261108T080000Z.onnx, anomaly-20261101T080000Z.onnx, "
            + "anomaly-20261001T080000Z.onnx", line.Message);

        // Nothing older: nothing removed, nothing said.
        SiteLearning.RemoveOlderModels(_work, SiteLearning.KeptModels, "cam", logger);
        Assert.Equal(7, Directory.GetFiles(_work).Length);
        Assert.Single(logger.Entries);
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}

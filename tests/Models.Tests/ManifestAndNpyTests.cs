using Edge.Models;
using Edge.Tests;

namespace Edge.Models.Tests;

public sealed class ManifestAndNpyTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Manifest_SaveAndLoad_RoundTrips()
    {
        var manifest = new ModelManifest
        {
            Name = "head", Kind = "classifier", InputName = "x", InputWidth = 1, InputHeight = 1, InputLayout = "NHWC",
            ChannelOrder = "BGR", InputElementType = "uint8", OutputNames = ["probabilities"], EmbeddingSize = 4,
            Labels = ["person", "car"], Mean = [1, 2, 3], Std = [4, 5, 6], Scale = 0.5f, Normalization = "caller",
        };
        var path = Path.Combine(_folder, "head.json");
        manifest.Save(path);
        var loaded = ModelManifest.Load(path);
        Assert.Equal(manifest.ToJson(), loaded.ToJson());
        Assert.Equal(["person", "car"], loaded.Labels);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Theory]
    [InlineData("{ \"name\": \"x\" }", "is not valid")]
    [InlineData("not json", "is not valid")]
    [InlineData("{\"name\":\"a\",\"kind\":\"k\",\"inputName\":\"i\",\"inputWidth\":1,\"inputHeight\":1,\"inputLayout\":\"NHWC\",\"channelOrder\":\"BGR\",\"inputElementType\":\"uint8\",\"outputNames\":[\"o\"],\"colour\":1}", "colour")]
    public void Manifest_Bad_IsInvalidWithReason(string json, string expected)
    {
        var path = Path.Combine(_folder, "bad.json");
        File.WriteAllText(path, json);
        var error = Assert.Throws<ModelException>(() => ModelManifest.Load(path));
        Assert.Equal(ModelError.Invalid, error.Error);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Npy_WriteAndRead_RoundTripsWithFinalRowCount()
    {
        var path = Path.Combine(_folder, "e.npy");
        using (var writer = new NpyFile.Writer(path, 3))
        {
            writer.Append([1f, 2f, 3f]);
            writer.Append([4f, 5f, float.NaN]);
            Assert.Throws<ArgumentException>(() => writer.Append([1f]));
        }
        var (values, rows, columns) = NpyFile.Read(path);
        Assert.Equal((2, 3), (rows, columns));
        Assert.Equal([1f, 2f, 3f, 4f, 5f, float.NaN], values);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(128 + 6 * 4, bytes.Length);
        Assert.Equal(0, 128 % 64);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

using Edge.Host.Web;
using Microsoft.Extensions.Options;

namespace Edge.Host.Tests.Web;

public sealed class WebOptionsTests
{
    public static TheoryData<string, string, string?> Cases => new()
    {
        { "http://127.0.0.1:8080", "", null },
        { "http://localhost:9000", "", null },
        { "http://[::1]:8080;http://127.0.0.1:8081", "", null },
        { "http://0.0.0.0:8080", "0123456789abcdef", null },
        { "http://0.0.0.0:8080", "", "Web:ApiToken must be set when Web:Urls listens beyond this machine (http://0.0.0.0:8080)" },
        { "http://*:8080", "", "Web:ApiToken must be set when Web:Urls listens beyond this machine (http://*:8080)" },
        { "http://127.0.0.1:8080;http://192.168.1.20:8080", "", "Web:ApiToken must be set when Web:Urls listens beyond this machine (http://192.168.1.20:8080)" },
        { "http://camera-box.local:8080", "", "Web:ApiToken must be set" },
        { "http://0.0.0.0:8080", "short", "Web:ApiToken must be at least 16 characters" },
        { "ftp://127.0.0.1:21", "", "Web:Urls entry 'ftp://127.0.0.1:21' is not an http://HOST:PORT URL" },
        { "http://127.0.0.1:8080/edge", "", "is not an http://HOST:PORT URL" },
        { " ; ", "", "Web:Urls is empty" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Validate_UrlsAndToken_ErrorNamesTheKey(string urls, string token, string? error)
    {
        var result = new WebOptionsValidator().Validate(null, new WebOptions { Urls = urls, ApiToken = token });
        if (error is null)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.True(result.Failed);
            Assert.Contains(error, result.FailureMessage, StringComparison.Ordinal);
            if (token.Length > 0)
            {
                Assert.DoesNotContain(token, result.FailureMessage, StringComparison.Ordinal); // keys, never the secret
            }
        }
    }

    [Fact]
    public void Validate_Disabled_NoRules()
    {
        Assert.True(new WebOptionsValidator().Validate(null, new WebOptions { Enabled = false, Urls = "http://0.0.0.0:80" }).Succeeded);
    }

    [Fact]
    public void Configuration_ExposedWithoutToken_ConfigErrorAtStart()
    {
        using var host = EdgeConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["Web:Urls"] = "http://0.0.0.0:8080",
            ["Logging:File"] = "",
        });
        var error = Assert.Throws<ConfigException>(() => EdgeConfiguration.ValidateOptions(host.Services));
        Assert.Contains("Web:ApiToken must be set", error.Message, StringComparison.Ordinal);
        Assert.IsType<OptionsValidationException>(error.InnerException);
    }
}

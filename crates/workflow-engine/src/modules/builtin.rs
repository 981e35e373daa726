//! The built-in modules and categories.

use serde_json::json;

use super::{BlockType, Category, InputDef, ModuleDef, UiType, ValueType};

use BlockType as B;
use ValueType::{Any, Boolean, Dictionary, List, Number, String as Str};

/// Events `trigger_event` can wait for.
pub const GANTRY_TRIGGER_EVENTS: [&str; 5] =
    ["task_completed", "task_failed", "instance_up", "instance_down", "vm_state_changed"];

/// Categories in display order.
pub fn categories() -> Vec<Category> {
    let rows = [
        ("trigger", "触发器", "Triggers", "ic_trigger", "工作流触发条件", "Workflow trigger conditions"),
        ("logic", "逻辑控制", "Logic Control", "ic_logic", "条件判断与循环", "Conditions and loops"),
        ("data", "数据", "Data", "ic_data", "变量与数据处理", "Variables and data processing"),
        ("file", "文件", "File", "ic_file", "文件操作", "File operations"),
        ("network", "网络", "Network", "ic_network", "网络请求", "Network requests"),
        (
            "system",
            "应用与系统",
            "App & System",
            "ic_system",
            "系统控制与应用管理",
            "System control and app management",
        ),
        ("gantry", "Gantry", "Gantry", "ic_gantry", "任务、实例与虚拟机", "Tasks, instances and virtual machines"),
    ];
    rows.iter()
        .zip(0..)
        .map(|(r, order)| Category {
            id: r.0.into(),
            name: r.1.into(),
            name_en: r.2.into(),
            icon: r.3.into(),
            description: r.4.into(),
            description_en: r.5.into(),
            order,
        })
        .collect()
}

/// Every built-in module.
pub fn builtin_modules() -> Vec<ModuleDef> {
    let mut all = triggers();
    all.extend(logic());
    all.extend(data());
    all.extend(files());
    all.extend(network());
    all.extend(system());
    all.extend(gantry());
    all
}

fn triggers() -> Vec<ModuleDef> {
    let data_out = ("触发数据", "Trigger Data");
    vec![
        ModuleDef::new(
            "trigger_manual",
            "trigger",
            "ic_trigger_manual",
            ("手动触发", "Manual Trigger"),
            ("手动或通过API启动", "Started by hand or through the API"),
        )
        .with_output("data", Any, data_out),
        ModuleDef::new(
            "trigger_schedule",
            "trigger",
            "ic_trigger_schedule",
            ("定时触发", "Schedule"),
            ("按Cron表达式定时启动", "Starts on a cron schedule"),
        )
        .with_input(
            InputDef::new("cron", Str, ("Cron表达式", "Cron Expression"))
                .describe(("5字段Cron表达式(分 时 日 月 周)", "5-field cron (minute hour day month weekday)"))
                .required()
                .placeholder("0 9 * * 1-5")
                .code("cron"),
        )
        .with_output("firedAt", Number, ("触发时间", "Fired At"))
        .with_output("data", Any, data_out)
        .example("Weekdays at 9", "Every weekday at 09:00 UTC", json!({"cron": "0 9 * * 1-5"})),
        ModuleDef::new(
            "trigger_webhook",
            "trigger",
            "ic_trigger_webhook",
            ("Webhook触发", "Webhook Trigger"),
            ("收到HTTP请求时启动", "Starts when an HTTP request arrives"),
        )
        .with_output("method", Str, ("请求方法", "Method"))
        .with_output("headers", Dictionary, ("请求头", "Headers"))
        .with_output("query", Dictionary, ("查询参数", "Query"))
        .with_output("body", Any, ("请求体", "Body"))
        .with_output("data", Any, data_out),
        ModuleDef::new(
            "trigger_event",
            "trigger",
            "ic_trigger_event",
            ("事件触发", "Event Trigger"),
            ("Gantry事件发生时启动", "Starts on a Gantry event"),
        )
        .with_input(InputDef::new("event", Str, ("事件", "Event")).required().options(&GANTRY_TRIGGER_EVENTS))
        .with_output("event", Str, ("事件", "Event"))
        .with_output("subject", Str, ("对象ID", "Subject Id"))
        .with_output("payload", Dictionary, ("事件内容", "Payload"))
        .with_output("data", Any, data_out),
    ]
}

fn condition() -> InputDef {
    InputDef::new("condition", Str, ("条件", "Condition"))
        .describe((
            "如 {{step-001.body}} contains \"ok\" && {{n}} > 3",
            "e.g. {{step-001.body}} contains \"ok\" && {{n}} > 3",
        ))
        .required()
        .length(1, 4096)
        .expression()
}

fn logic() -> Vec<ModuleDef> {
    let index = ("当前次数", "Index");
    vec![
        ModuleDef::new(
            "if_condition",
            "logic",
            "ic_if",
            ("If条件", "If Condition"),
            ("条件判断", "Conditional statement"),
        )
        .block(B::If, Some("endif"))
        .with_input(condition())
        .with_output("result", Boolean, ("条件结果", "Result"))
        .example(
            "Status check",
            "Branch on an HTTP status",
            json!({"condition": "{{step-001.statusCode}} == 200"}),
        ),
        ModuleDef::new(
            "else",
            "logic",
            "ic_else",
            ("否则", "Else"),
            ("条件不成立时执行", "Runs when the condition is false"),
        )
        .block(B::Else, Some("endif")),
        ModuleDef::new("endif", "logic", "ic_endif", ("结束If", "End If"), ("结束条件块", "Ends the if block"))
            .block(B::Endif, None),
        ModuleDef::new("loop", "logic", "ic_loop", ("循环", "Loop"), ("重复执行指定次数", "Repeats a number of times"))
            .block(B::Loop, Some("endloop"))
            .with_input(InputDef::new("count", Number, ("次数", "Count")).required().range(0.0, 1_000_000.0, 1.0))
            .with_output("index", Number, index)
            .with_output("total", Number, ("总次数", "Total")),
        ModuleDef::new("endloop", "logic", "ic_endloop", ("结束循环", "End Loop"), ("结束循环块", "Ends the loop"))
            .block(B::Endloop, None),
        ModuleDef::new(
            "foreach",
            "logic",
            "ic_foreach",
            ("遍历列表", "For Each"),
            ("对列表每一项执行", "Runs once per list item"),
        )
        .block(B::Foreach, Some("endforeach"))
        .with_input(InputDef::new("items", List, ("列表", "Items")).required())
        .with_output("index", Number, index)
        .with_output("item", Any, ("当前项", "Item")),
        ModuleDef::new(
            "endforeach",
            "logic",
            "ic_endforeach",
            ("结束遍历", "End For Each"),
            ("结束遍历块", "Ends the for-each loop"),
        )
        .block(B::Endforeach, None),
        ModuleDef::new(
            "while",
            "logic",
            "ic_while",
            ("当条件成立时循环", "While"),
            ("条件成立时重复执行", "Repeats while the condition holds"),
        )
        .block(B::While, Some("endwhile"))
        .with_input(condition())
        .with_output("index", Number, index),
        ModuleDef::new(
            "endwhile",
            "logic",
            "ic_endwhile",
            ("结束While", "End While"),
            ("结束While块", "Ends the while loop"),
        )
        .block(B::Endwhile, None),
        ModuleDef::new(
            "break",
            "logic",
            "ic_break",
            ("跳出循环", "Break"),
            ("立即结束当前循环", "Leaves the innermost loop"),
        ),
        ModuleDef::new(
            "continue",
            "logic",
            "ic_continue",
            ("继续下一次", "Continue"),
            ("跳到下一次循环", "Starts the next iteration"),
        ),
        ModuleDef::new(
            "stop",
            "logic",
            "ic_stop",
            ("停止工作流", "Stop"),
            ("正常结束本次执行", "Ends the run as completed"),
        ),
    ]
}

fn data() -> Vec<ModuleDef> {
    let result = ("结果", "Result");
    vec![
        ModuleDef::new(
            "set_variable",
            "data",
            "ic_variable",
            ("设置变量", "Set Variable"),
            ("设置命名变量", "Sets a named variable"),
        )
        .with_input(
            InputDef::new("name", Str, ("变量名", "Name")).required().length(1, 128).pattern(r"^[^.{}\[\]\s]+$"),
        )
        .with_input(InputDef::new("value", Any, ("值", "Value")))
        .with_output("value", Any, ("值", "Value"))
        .example("Counter", "Start a counter", json!({"name": "counter", "value": 0})),
        ModuleDef::new(
            "math",
            "data",
            "ic_math",
            ("计算", "Math"),
            ("算术表达式或二元运算", "Arithmetic expression or binary operation"),
        )
        .with_input(InputDef::new("expression", Str, ("表达式", "Expression")).length(1, 4096).expression())
        .with_input(
            InputDef::new("operator", Str, ("运算符", "Operator"))
                .default_value("add")
                .options(&["add", "subtract", "multiply", "divide", "modulo", "power", "min", "max"]),
        )
        .with_input(InputDef::new("a", Number, ("操作数A", "Operand A")).ui(UiType::TextField))
        .with_input(InputDef::new("b", Number, ("操作数B", "Operand B")).ui(UiType::TextField))
        .with_output("result", Number, result)
        .example("Increment", "counter + 1", json!({"expression": "{{counter}} + 1"})),
        ModuleDef::new(
            "text",
            "data",
            "ic_text",
            ("文本处理", "Text"),
            ("拼接、大小写、替换、分割等", "Concatenate, change case, replace, split…"),
        )
        .with_input(InputDef::new("operation", Str, ("操作", "Operation")).required().options(&[
            "concat",
            "upper",
            "lower",
            "trim",
            "replace",
            "split",
            "length",
            "substring",
        ]))
        .with_input(InputDef::new("text", Str, ("文本", "Text")).ui(UiType::TextArea))
        .with_input(InputDef::new("other", Str, ("拼接文本", "Other Text")))
        .with_input(InputDef::new("find", Str, ("查找", "Find")))
        .with_input(InputDef::new("replacement", Str, ("替换为", "Replace With")))
        .with_input(InputDef::new("separator", Str, ("分隔符", "Separator")).default_value(","))
        .with_input(InputDef::new("start", Number, ("起始位置", "Start")).default_value(0).ui(UiType::TextField))
        .with_input(InputDef::new("end", Number, ("结束位置", "End")).ui(UiType::TextField))
        .with_output("result", Any, result),
        ModuleDef::new(
            "regex",
            "data",
            "ic_regex",
            ("正则表达式", "Regex"),
            ("正则匹配、查找与替换", "Regex match, find all and replace"),
        )
        .with_input(InputDef::new("pattern", Str, ("正则", "Pattern")).required().length(1, 4096))
        .with_input(InputDef::new("text", Str, ("文本", "Text")).required().ui(UiType::TextArea))
        .with_input(
            InputDef::new("operation", Str, ("操作", "Operation"))
                .default_value("match")
                .options(&["match", "find_all", "replace"]),
        )
        .with_input(InputDef::new("replacement", Str, ("替换为", "Replacement")))
        .with_output("matched", Boolean, ("是否匹配", "Matched"))
        .with_output("result", Any, result)
        .with_output("groups", List, ("分组", "Groups"))
        .with_output("count", Number, ("数量", "Count")),
        ModuleDef::new(
            "json_parse",
            "data",
            "ic_json",
            ("解析JSON", "Parse JSON"),
            ("把文本解析为数据", "Parses text as JSON"),
        )
        .with_input(InputDef::new("text", Str, ("JSON文本", "JSON Text")).required().code("json"))
        .with_output("result", Any, result),
        ModuleDef::new(
            "json_path",
            "data",
            "ic_json_path",
            ("JSON取值", "JSON Path"),
            ("按路径读取数据,如 $.items[0].name", "Reads a path such as $.items[0].name"),
        )
        .with_input(InputDef::new("data", Any, ("数据", "Data")).required())
        .with_input(InputDef::new("path", Str, ("路径", "Path")).required().length(1, 1024))
        .with_output("result", Any, ("值", "Value"))
        .with_output("found", Boolean, ("是否找到", "Found")),
        ModuleDef::new(
            "random",
            "data",
            "ic_random",
            ("随机数", "Random"),
            ("生成范围内的随机数", "Random number in a range"),
        )
        .with_input(InputDef::new("min", Number, ("最小值", "Min")).default_value(0).ui(UiType::TextField))
        .with_input(InputDef::new("max", Number, ("最大值", "Max")).default_value(100).ui(UiType::TextField))
        .with_input(InputDef::new("integer", Boolean, ("整数", "Integer")).default_value(true))
        .with_output("result", Number, result),
        ModuleDef::new(
            "datetime",
            "data",
            "ic_time",
            ("日期时间", "Date & Time"),
            ("当前或指定时间的格式化", "Formats now or a given time (UTC)"),
        )
        .with_input(InputDef::new("format", Str, ("格式", "Format")).default_value("%Y-%m-%d %H:%M:%S").length(1, 256))
        .with_input(InputDef::new("timestamp", Number, ("时间戳(毫秒)", "Timestamp (ms)")).ui(UiType::TextField))
        .with_output("text", Str, ("格式化文本", "Text"))
        .with_output("timestamp", Number, ("时间戳(毫秒)", "Timestamp (ms)"))
        .with_output("iso", Str, ("ISO 8601", "ISO 8601"))
        .with_output("year", Number, ("年", "Year"))
        .with_output("month", Number, ("月", "Month"))
        .with_output("day", Number, ("日", "Day"))
        .with_output("hour", Number, ("时", "Hour"))
        .with_output("minute", Number, ("分", "Minute"))
        .with_output("second", Number, ("秒", "Second"))
        .with_output("weekday", Number, ("星期(1=周一)", "Weekday (1=Monday)")),
    ]
}

fn files() -> Vec<ModuleDef> {
    let path = || {
        InputDef::new("path", Str, ("路径", "Path"))
            .describe(("沙箱目录内的相对路径", "Path relative to the sandbox directory"))
    };
    vec![
        ModuleDef::new(
            "file_read",
            "file",
            "ic_file_read",
            ("读取文件", "Read File"),
            ("读取沙箱内的文本文件", "Reads a text file in the sandbox"),
        )
        .with_input(path().required().length(1, 1024))
        .with_output("content", Str, ("内容", "Content"))
        .with_output("size", Number, ("大小(字节)", "Size (bytes)")),
        ModuleDef::new(
            "file_write",
            "file",
            "ic_file_write",
            ("写入文件", "Write File"),
            ("写入沙箱内的文本文件", "Writes a text file in the sandbox"),
        )
        .with_input(path().required().length(1, 1024))
        .with_input(InputDef::new("content", Str, ("内容", "Content")).default_value("").ui(UiType::TextArea))
        .with_input(InputDef::new("append", Boolean, ("追加", "Append")).default_value(false))
        .with_output("path", Str, ("路径", "Path"))
        .with_output("size", Number, ("大小(字节)", "Size (bytes)")),
        ModuleDef::new(
            "file_list",
            "file",
            "ic_file_list",
            ("列出文件", "List Files"),
            ("列出沙箱目录内容", "Lists a sandbox directory"),
        )
        .with_input(path().default_value(""))
        .with_output("files", List, ("文件", "Files"))
        .with_output("count", Number, ("数量", "Count")),
    ]
}

fn network() -> Vec<ModuleDef> {
    vec![
        ModuleDef::new(
            "http_request",
            "network",
            "ic_http",
            ("HTTP请求", "HTTP Request"),
            ("发送HTTP/HTTPS请求", "Send HTTP/HTTPS request"),
        )
        .help_url("https://docs.vflow.app/modules/http-request")
        .with_input(
            InputDef::new("url", Str, ("URL", "URL"))
                .describe(("请求地址", "Request URL"))
                .required()
                .placeholder("https://api.example.com")
                .pattern("^https?://.*")
                .length(1, 2000),
        )
        .with_input(
            InputDef::new("method", Str, ("请求方法", "Method"))
                .describe(("HTTP请求方法", "HTTP request method"))
                .default_value("GET")
                .required()
                .options(&["GET", "POST", "PUT", "DELETE", "PATCH"]),
        )
        .with_input(
            InputDef::new("headers", Dictionary, ("请求头", "Headers"))
                .describe(("自定义HTTP请求头", "Custom HTTP headers")),
        )
        .with_input(
            InputDef::new("body", Str, ("请求体", "Body")).describe(("POST请求体", "POST request body")).code("json"),
        )
        .with_input(
            InputDef::new("timeout", Number, ("超时时间", "Timeout"))
                .describe(("请求超时时间(秒)", "Request timeout (seconds)"))
                .default_value(30)
                .range(1.0, 300.0, 1.0),
        )
        .with_output("statusCode", Number, ("状态码", "Status Code"))
        .with_output("body", Str, ("响应体", "Response Body"))
        .with_output("headers", Dictionary, ("响应头", "Response Headers"))
        .example(
            "GET Example",
            "Simple GET request",
            json!({"url": "https://api.example.com/users", "method": "GET"}),
        ),
    ]
}

fn system() -> Vec<ModuleDef> {
    vec![
        ModuleDef::new("delay", "system", "ic_delay", ("延迟", "Delay"), ("延迟指定时间", "Delay for specified time"))
            .with_input(InputDef::new("duration", Number, ("时长(毫秒)", "Duration (ms)")).default_value(1000).range(
                0.0,
                86_400_000.0,
                100.0,
            ))
            .with_output("actualDuration", Number, ("实际延迟", "Actual Duration"))
            .example("One second", "Wait 1000 ms", json!({"duration": 1000})),
        ModuleDef::new("log", "system", "ic_log", ("记录日志", "Log"), ("写入执行日志", "Writes to the execution log"))
            .with_input(InputDef::new("message", Str, ("消息", "Message")).required().ui(UiType::TextArea))
            .with_input(
                InputDef::new("level", Str, ("级别", "Level"))
                    .default_value("info")
                    .options(&["info", "warning", "error"]),
            )
            .with_output("message", Str, ("消息", "Message")),
    ]
}

/// Power actions `gantry_vm_action` accepts.
pub const GANTRY_VM_ACTIONS: [&str; 7] = ["start", "stop", "shutdown", "reboot", "reset", "pause", "resume"];

fn wait_inputs(module: ModuleDef) -> ModuleDef {
    module.with_input(InputDef::new("wait", Boolean, ("等待完成", "Wait")).default_value(true)).with_input(
        InputDef::new("timeout", Number, ("超时(秒)", "Timeout (s)")).default_value(600).range(1.0, 86_400.0, 1.0),
    )
}

fn task_outputs(module: ModuleDef) -> ModuleDef {
    module
        .with_output("taskId", Str, ("任务ID", "Task Id"))
        .with_output("status", Str, ("状态", "Status"))
        .with_output("outputs", List, ("输出文件", "Outputs"))
        .with_output("error", Str, ("错误", "Error"))
}

fn vm_target(module: ModuleDef) -> ModuleDef {
    module
        .with_input(
            InputDef::new("host", Str, ("主机", "Host"))
                .describe(("主机名(hs_name)", "Host name (hs_name)"))
                .required(),
        )
        .with_input(InputDef::new("vmId", Str, ("虚拟机", "VM")).describe(("虚拟机UUID", "VM UUID")).required())
}

fn gantry() -> Vec<ModuleDef> {
    vec![
        task_outputs(wait_inputs(
            ModuleDef::new(
                "gantry_generate_image",
                "gantry",
                "ic_image",
                ("生成图片", "Generate Image"),
                ("文生图,按定价扣除所有者积分", "Text to image, charged to the owner's credits"),
            )
            .with_input(InputDef::new("prompt", Str, ("提示词", "Prompt")).required().length(1, 4000))
            .with_input(InputDef::new("negativePrompt", Str, ("反向提示词", "Negative Prompt")))
            .with_input(InputDef::new("modelName", Str, ("模型", "Model")))
            .with_input(InputDef::new("width", Number, ("宽度", "Width")).default_value(1024).range(64.0, 2048.0, 8.0))
            .with_input(
                InputDef::new("height", Number, ("高度", "Height")).default_value(1024).range(64.0, 2048.0, 8.0),
            )
            .with_input(InputDef::new("steps", Number, ("步数", "Steps")).default_value(30).range(1.0, 150.0, 1.0))
            .with_input(InputDef::new("seed", Number, ("种子", "Seed")).default_value(-1)),
        ))
        .with_output("cost", Number, ("花费积分", "Cost")),
        task_outputs(wait_inputs(
            ModuleDef::new(
                "gantry_submit_task",
                "gantry",
                "ic_task",
                ("提交任务", "Submit Task"),
                ("向调度器提交ComfyUI任务", "Submits a ComfyUI task to the dispatcher"),
            )
            .with_input(
                InputDef::new("workflow", Dictionary, ("工作流图", "Graph"))
                    .describe(("API格式的ComfyUI工作流", "ComfyUI graph in API format"))
                    .required()
                    .code("json"),
            )
            .with_input(InputDef::new("params", Dictionary, ("参数", "Params")))
            .with_input(
                InputDef::new("priority", Number, ("优先级", "Priority")).default_value(0).range(0.0, 10.0, 1.0),
            ),
        )),
        task_outputs(
            ModuleDef::new(
                "gantry_wait_task",
                "gantry",
                "ic_task",
                ("等待任务", "Wait for Task"),
                ("等待任务结束", "Waits until a task ends"),
            )
            .with_input(InputDef::new("taskId", Str, ("任务ID", "Task Id")).required())
            .with_input(
                InputDef::new("timeout", Number, ("超时(秒)", "Timeout (s)"))
                    .default_value(600)
                    .range(1.0, 86_400.0, 1.0),
            ),
        ),
        ModuleDef::new(
            "gantry_task_status",
            "gantry",
            "ic_task",
            ("任务状态", "Task Status"),
            ("查询任务状态", "Reads a task's status"),
        )
        .with_input(InputDef::new("taskId", Str, ("任务ID", "Task Id")).required())
        .with_output("status", Str, ("状态", "Status"))
        .with_output("progress", Number, ("进度", "Progress"))
        .with_output("outputs", List, ("输出文件", "Outputs")),
        ModuleDef::new(
            "gantry_set_instance",
            "gantry",
            "ic_instances",
            ("启用/禁用实例", "Enable/Disable Instance"),
            ("启用或禁用ComfyUI实例(仅管理员)", "Enables or disables a ComfyUI instance (admins only)"),
        )
        .with_input(InputDef::new("instanceId", Str, ("实例", "Instance")).describe(("ip:port", "ip:port")).required())
        .with_input(InputDef::new("enabled", Boolean, ("启用", "Enabled")).required())
        .with_output("instance", Dictionary, ("实例", "Instance"))
        .with_output("enabled", Boolean, ("启用", "Enabled")),
        ModuleDef::new(
            "gantry_list_instances",
            "gantry",
            "ic_instances",
            ("实例列表", "List Instances"),
            ("列出ComfyUI实例", "Lists ComfyUI instances"),
        )
        .with_input(
            InputDef::new("status", Str, ("状态", "Status"))
                .default_value("all")
                .options(&["all", "idle", "busy", "offline"]),
        )
        .with_output("instances", List, ("实例", "Instances"))
        .with_output("count", Number, ("数量", "Count")),
        vm_target(ModuleDef::new(
            "gantry_vm_action",
            "gantry",
            "ic_vm",
            ("虚拟机操作", "VM Action"),
            ("虚拟机电源操作", "Runs a VM power action"),
        ))
        .with_input(InputDef::new("action", Str, ("操作", "Action")).required().options(&GANTRY_VM_ACTIONS))
        .with_output("success", Boolean, ("成功", "Success"))
        .with_output("state", Str, ("状态", "State"))
        .with_output("result", Dictionary, ("结果", "Result")),
        vm_target(ModuleDef::new(
            "gantry_vm_status",
            "gantry",
            "ic_vm",
            ("虚拟机状态", "VM Status"),
            ("查询虚拟机状态", "Reads a VM's state"),
        ))
        .with_output("state", Str, ("状态", "State"))
        .with_output("result", Dictionary, ("结果", "Result")),
    ]
}

//! Builders for module definitions, used by the built-in catalogue and by hosts that
//! register their own `gantry` modules.

use serde_json::{Value, json};

use super::{BlockBehavior, BlockType, Constraints, InputDef, ModuleDef, ModuleMetadata, OutputDef, UiType, ValueType};

impl ModuleDef {
    /// A non-block module with no inputs or outputs; `name`/`description` are `(zh, en)`.
    pub fn new(id: &str, category: &str, icon: &str, name: (&str, &str), description: (&str, &str)) -> Self {
        Self {
            id: id.to_owned(),
            metadata: ModuleMetadata {
                name: name.0.to_owned(),
                name_en: name.1.to_owned(),
                icon: icon.to_owned(),
                category: category.to_owned(),
                description: description.0.to_owned(),
                description_en: description.1.to_owned(),
                help_url: None,
            },
            block_behavior: BlockBehavior { block_type: BlockType::None, can_start_workflow: true, end_block_id: None },
            inputs: Vec::new(),
            outputs: Vec::new(),
            examples: Vec::new(),
        }
    }

    /// Makes it a block marker; `end` names the closing module of an opener.
    pub fn block(mut self, block_type: BlockType, end: Option<&str>) -> Self {
        self.block_behavior =
            BlockBehavior { block_type, can_start_workflow: false, end_block_id: end.map(str::to_owned) };
        self
    }

    /// Adds an input.
    pub fn with_input(mut self, input: InputDef) -> Self {
        self.inputs.push(input);
        self
    }

    /// Adds an output; `label` is `(zh, en)` and doubles as the description.
    pub fn with_output(mut self, id: &str, ty: ValueType, label: (&str, &str)) -> Self {
        self.outputs.push(OutputDef {
            id: id.to_owned(),
            ty,
            label: label.0.to_owned(),
            label_en: label.1.to_owned(),
            description: label.0.to_owned(),
            description_en: label.1.to_owned(),
        });
        self
    }

    /// Adds an example parameter set.
    pub fn example(mut self, name: &str, description: &str, parameters: Value) -> Self {
        self.examples.push(json!({ "name": name, "description": description, "parameters": parameters }));
        self
    }

    /// Sets the documentation link.
    pub fn help_url(mut self, url: &str) -> Self {
        self.metadata.help_url = Some(url.to_owned());
        self
    }
}

impl InputDef {
    /// An optional input with no default; `label` is `(zh, en)` and doubles as the
    /// description. The widget follows the type.
    pub fn new(id: &str, ty: ValueType, label: (&str, &str)) -> Self {
        let ui_type = match ty {
            ValueType::Number => UiType::NumberSlider,
            ValueType::Boolean => UiType::Switch,
            ValueType::Dictionary => UiType::KeyValueEditor,
            _ => UiType::TextField,
        };
        Self {
            id: id.to_owned(),
            ty,
            label: label.0.to_owned(),
            label_en: label.1.to_owned(),
            description: label.0.to_owned(),
            description_en: label.1.to_owned(),
            default_value: Value::Null,
            required: false,
            ui_type,
            constraints: None,
            placeholder: None,
            expression: false,
        }
    }

    /// Sets the description, `(zh, en)`.
    pub fn describe(mut self, description: (&str, &str)) -> Self {
        self.description = description.0.to_owned();
        self.description_en = description.1.to_owned();
        self
    }

    /// Marks it required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the default value.
    pub fn default_value(mut self, value: impl Into<Value>) -> Self {
        self.default_value = value.into();
        self
    }

    /// Sets the widget.
    pub fn ui(mut self, ui_type: UiType) -> Self {
        self.ui_type = ui_type;
        self
    }

    /// Sets the placeholder.
    pub fn placeholder(mut self, text: &str) -> Self {
        self.placeholder = Some(text.to_owned());
        self
    }

    /// Restricts to `options` and shows a dropdown.
    pub fn options(self, options: &[&str]) -> Self {
        let mut s = self.ui(UiType::Dropdown);
        s.constraints_mut().options = options.iter().map(|o| (*o).to_owned()).collect();
        s
    }

    /// Numeric range and slider step.
    pub fn range(mut self, min: f64, max: f64, step: f64) -> Self {
        let c = self.constraints_mut();
        (c.min, c.max, c.step) = (Some(min), Some(max), Some(step));
        self
    }

    /// Text length bounds, in characters.
    pub fn length(mut self, min: usize, max: usize) -> Self {
        let c = self.constraints_mut();
        (c.min_length, c.max_length) = (Some(min), Some(max));
        self
    }

    /// Regular expression the text must match.
    pub fn pattern(mut self, pattern: &str) -> Self {
        self.constraints_mut().pattern = Some(pattern.to_owned());
        self
    }

    /// Code editor with a language hint.
    pub fn code(mut self, language: &str) -> Self {
        self.ui_type = UiType::CodeEditor;
        self.constraints_mut().language = Some(language.to_owned());
        self
    }

    /// Parsed as an expression (conditions, `math`), never template-resolved.
    pub fn expression(mut self) -> Self {
        self.expression = true;
        self.constraints_mut().language = Some("expression".to_owned());
        self
    }

    fn constraints_mut(&mut self) -> &mut Constraints {
        self.constraints.get_or_insert_with(Constraints::default)
    }
}
